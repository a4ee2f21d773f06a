import { useId, useState, type FormEvent, type ReactNode } from "react";
import { AlertDialog, Switch } from "radix-ui";
import { Link } from "react-router";

/** The frame of the signed-out pages: Baton's name and one card. */
export function Card({ title, children }: { title: string; children: ReactNode }) {
  return (
    <main className="min-h-screen bg-slate-50 flex items-start sm:items-center justify-center p-4">
      <div className="w-full max-w-sm">
        <p className="mb-6 text-center text-2xl font-bold text-indigo-700">Baton</p>
        <section className="rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200">
          <h1 className="mb-4 text-xl font-semibold text-slate-900">{title}</h1>
          {children}
        </section>
      </div>
    </main>
  );
}

/** A control with its label above and its hint below, tied to it for screen readers. */
function Labelled(props: { id: string; hintId: string; label: string; hint?: string; children: ReactNode }) {
  return (
    <div className="mb-4">
      <label htmlFor={props.id} className="mb-1 block text-sm font-medium text-slate-800">
        {props.label}
      </label>
      {props.children}
      {props.hint && (
        <p id={props.hintId} className="mt-1 text-sm text-slate-600">
          {props.hint}
        </p>
      )}
    </div>
  );
}

export function Field(props: {
  label: string;
  name: string;
  type?: string;
  autoComplete?: string;
  value: string;
  onChange: (value: string) => void;
  required?: boolean;
  hint?: string;
}) {
  const id = useId();
  const hint = useId();
  return (
    <Labelled id={id} hintId={hint} label={props.label} hint={props.hint}>
      <input
        id={id}
        name={props.name}
        type={props.type ?? "text"}
        autoComplete={props.autoComplete}
        required={props.required ?? true}
        value={props.value}
        aria-describedby={props.hint ? hint : undefined}
        onChange={(event) => props.onChange(event.target.value)}
        className="w-full rounded-md border border-slate-300 px-3 py-2 text-base text-slate-900 focus:border-indigo-600 focus:outline-none focus:ring-2 focus:ring-indigo-600/30"
      />
    </Labelled>
  );
}

/** A labelled drop-down of a few named choices. */
export function Choice(props: {
  label: string;
  name: string;
  value: string;
  options: [value: string, label: string][];
  onChange: (value: string) => void;
  hint?: string;
}) {
  const id = useId();
  const hint = useId();
  return (
    <Labelled id={id} hintId={hint} label={props.label} hint={props.hint}>
      <select
        id={id}
        name={props.name}
        value={props.value}
        aria-describedby={props.hint ? hint : undefined}
        onChange={(event) => props.onChange(event.target.value)}
        className="w-full rounded-md border border-slate-300 px-2 py-2 text-base text-slate-900"
      >
        {props.options.map(([value, label]) => (
          <option key={value} value={value}>
            {label}
          </option>
        ))}
      </select>
    </Labelled>
  );
}

export function Form(props: {
  onSubmit: () => void;
  busy: boolean;
  submit: string;
  error: string | null;
  children: ReactNode;
}) {
  return (
    <form
      noValidate={false}
      onSubmit={(event: FormEvent) => {
        event.preventDefault();
        props.onSubmit();
      }}
    >
      {props.children}
      {props.error && <Alert tone="error">{props.error}</Alert>}
      <button
        type="submit"
        disabled={props.busy}
        className="w-full rounded-md bg-indigo-700 px-4 py-2 font-medium text-white hover:bg-indigo-800 focus:outline-none focus:ring-2 focus:ring-indigo-600 focus:ring-offset-2 disabled:opacity-60"
      >
        {props.busy ? "Please wait…" : props.submit}
      </button>
    </form>
  );
}

export function Alert({ tone, children }: { tone: "error" | "info"; children: ReactNode }) {
  const colours = tone === "error" ? "bg-red-50 text-red-800 ring-red-200" : "bg-emerald-50 text-emerald-900 ring-emerald-200";
  return (
    <p role={tone === "error" ? "alert" : "status"} className={`mb-4 whitespace-pre-line rounded-md p-3 text-sm ring-1 ${colours}`}>
      {children}
    </p>
  );
}

export function TextLink({ to, children }: { to: string; children: ReactNode }) {
  return (
    <Link to={to} className="font-medium text-indigo-700 underline underline-offset-2 hover:text-indigo-900">
      {children}
    </Link>
  );
}

const TONES = {
  primary: "bg-indigo-700 text-white hover:bg-indigo-800",
  plain: "bg-white text-slate-900 ring-1 ring-slate-300 hover:bg-slate-50",
  danger: "bg-white text-red-800 ring-1 ring-red-300 hover:bg-red-50",
  solidDanger: "bg-red-700 text-white hover:bg-red-800",
};

/** The look of a button of a tone, for elements that must be plain `<button>`s (Radix's asChild). */
export function buttonClass(tone: keyof typeof TONES = "primary") {
  return `rounded-md px-3 py-2 text-sm font-medium focus:outline-none focus:ring-2 focus:ring-indigo-600 focus:ring-offset-2 disabled:opacity-60 ${TONES[tone]}`;
}

export function Button(props: {
  children: ReactNode;
  onClick?: () => void;
  type?: "button" | "submit";
  tone?: keyof typeof TONES;
  disabled?: boolean;
}) {
  return (
    <button type={props.type ?? "button"} onClick={props.onClick} disabled={props.disabled} className={buttonClass(props.tone)}>
      {props.children}
    </button>
  );
}

/** A run's or a step's state as a coloured word. */
export function StateBadge({ state }: { state: string }) {
  const colours: Record<string, string> = {
    COMPLETED: "bg-emerald-100 text-emerald-900",
    FAILED: "bg-red-100 text-red-900",
    RUNNING: "bg-sky-100 text-sky-900",
    PENDING: "bg-slate-100 text-slate-800",
    WAITING: "bg-amber-100 text-amber-900",
    CANCELLED: "bg-slate-200 text-slate-800",
    SKIPPED: "bg-slate-100 text-slate-700",
  };
  const word = state.charAt(0) + state.slice(1).toLowerCase();
  return <span className={`rounded-full px-2 py-0.5 text-xs font-semibold ${colours[state] ?? "bg-slate-100"}`}>{word}</span>;
}

/** Asks before something that cannot be undone; `onConfirm` runs only on the explicit yes. */
export function Confirm(props: {
  trigger: string;
  title: string;
  body: ReactNode;
  confirm: string;
  onConfirm: () => void;
  tone?: "danger" | "primary";
  disabled?: boolean;
}) {
  return (
    <AlertDialog.Root>
      <AlertDialog.Trigger asChild>
        <button type="button" disabled={props.disabled} className={buttonClass((props.tone ?? "danger") === "danger" ? "danger" : "plain")}>
          {props.trigger}
        </button>
      </AlertDialog.Trigger>
      <AlertDialog.Portal>
        <AlertDialog.Overlay className="fixed inset-0 bg-slate-900/40" />
        <AlertDialog.Content className="fixed left-1/2 top-1/2 w-[calc(100%-2rem)] max-w-md -translate-x-1/2 -translate-y-1/2 rounded-xl bg-white p-5 shadow-lg focus:outline-none">
          <AlertDialog.Title className="mb-2 text-lg font-semibold text-slate-900">{props.title}</AlertDialog.Title>
          <AlertDialog.Description asChild>
            <div className="mb-4 text-sm text-slate-700">{props.body}</div>
          </AlertDialog.Description>
          <div className="flex justify-end gap-2">
            <AlertDialog.Cancel asChild>
              <button type="button" className={buttonClass("plain")}>
                Cancel
              </button>
            </AlertDialog.Cancel>
            <AlertDialog.Action asChild>
              <button
                type="button"
                onClick={props.onConfirm}
                className={buttonClass((props.tone ?? "danger") === "danger" ? "solidDanger" : "primary")}
              >
                {props.confirm}
              </button>
            </AlertDialog.Action>
          </div>
        </AlertDialog.Content>
      </AlertDialog.Portal>
    </AlertDialog.Root>
  );
}

/** An on/off switch with its label; says its state in words too. */
export function Toggle(props: { label: string; on: boolean; onChange: (on: boolean) => void; disabled?: boolean }) {
  const id = useId();
  return (
    <div className="flex items-center gap-2">
      <Switch.Root
        id={id}
        checked={props.on}
        disabled={props.disabled}
        onCheckedChange={props.onChange}
        className="relative h-6 w-11 rounded-full bg-slate-400 transition-colors focus:outline-none focus:ring-2 focus:ring-indigo-600 focus:ring-offset-2 disabled:opacity-60 data-[state=checked]:bg-emerald-700"
      >
        <Switch.Thumb className="block h-5 w-5 translate-x-0.5 rounded-full bg-white shadow transition-transform data-[state=checked]:translate-x-[22px]" />
      </Switch.Root>
      <label htmlFor={id} className="text-sm font-medium text-slate-800">
        {props.label}: {props.on ? "on" : "off"}
      </label>
    </div>
  );
}

/** A value to copy (a URL, a key): shown whole, with a button that copies it. */
export function CopyField({ label, value }: { label: string; value: string }) {
  const id = useId();
  const [copied, setCopied] = useState(false);
  return (
    <div className="mb-3">
      <label htmlFor={id} className="mb-1 block text-sm font-medium text-slate-800">
        {label}
      </label>
      <div className="flex gap-2">
        <input
          id={id}
          readOnly
          value={value}
          onFocus={(event) => event.target.select()}
          className="min-w-0 flex-1 rounded-md border border-slate-300 bg-slate-50 px-2 py-2 font-mono text-sm text-slate-900"
        />
        <Button
          tone="plain"
          onClick={async () => {
            await navigator.clipboard?.writeText(value).catch(() => undefined);
            setCopied(true);
            setTimeout(() => setCopied(false), 2000);
          }}
        >
          {copied ? "Copied" : "Copy"}
        </Button>
      </div>
    </div>
  );
}
