// Integrations: every service Baton can call, the organization's connections to each, and
// connecting one: by OAuth (the provider's consent page, opened straight from the click) or with
// an API key. Secrets are sent once and never shown again.
import { useState, type ReactNode } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../lib/api";
import { describe } from "../lib/errors";
import { useMayEdit, useMe } from "../shell";
import { Alert, Button, CopyField, Field } from "../ui";

export type Connector = {
  id: string;
  name: string;
  category: "ai" | "business" | "utility";
  auth: {
    kind: "none" | "api_key" | "oauth2" | "fields";
    configured?: boolean;
    paste?: { label: string; hint: string };
    fields?: FormField[];
  };
};
/** One field of a connection form the connector declares (`auth.kind` `fields`). */
type FormField = {
  id: string;
  label: string;
  kind: "text" | "password" | "number" | "choice" | "checkbox";
  required: boolean;
  default?: string;
  hint: string;
  options?: { value: string; label: string }[];
};
export type Credential = {
  id: string;
  service: string;
  name: string;
  status: "connected" | "reconnect_needed";
  reconnect_reason: string | null;
};

const CATEGORIES: [Connector["category"], string][] = [
  ["ai", "AI models"],
  ["business", "Business apps"],
  ["utility", "Utilities"],
];

export function Integrations() {
  const connectors = useQuery({
    queryKey: ["connectors"],
    queryFn: () => api<{ items: Connector[] }>("/api/v1/connectors"),
  });
  const credentials = useQuery({
    queryKey: ["credentials"],
    queryFn: () => api<{ items: Credential[] }>("/api/v1/credentials"),
  });
  return (
    <section>
      <h1 className="mb-4 text-2xl font-semibold text-slate-900">Integrations</h1>
      {connectors.isPending && <p role="status">Loading…</p>}
      {connectors.isError && <Alert tone="error">{describe(connectors.error)}</Alert>}
      {CATEGORIES.map(([category, title]) => {
        const here = connectors.data?.items.filter((connector) => connector.category === category) ?? [];
        if (here.length === 0) return null;
        return (
          <div key={category} className="mb-6">
            <h2 className="mb-2 text-lg font-semibold text-slate-900">{title}</h2>
            <ul className="space-y-3">
              {here.map((connector) => (
                <ConnectorCard
                  key={connector.id}
                  connector={connector}
                  connections={credentials.data?.items.filter((credential) => credential.service === connector.id) ?? []}
                />
              ))}
            </ul>
          </div>
        );
      })}
    </section>
  );
}

export function ConnectorCard({ connector, connections }: { connector: Connector; connections: Credential[] }) {
  const mayEdit = useMayEdit();
  const [open, setOpen] = useState(false);
  return (
    <li className="rounded-lg bg-white p-4 ring-1 ring-slate-200" aria-label={connector.name}>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <span className="font-medium text-slate-900">{connector.name}</span>
        {mayEdit && (connector.auth.kind !== "none" || connector.id === "http") && !open && (
          <Button tone="plain" onClick={() => setOpen(true)}>
            {connector.id === "http" ? "Add HTTP credential" : `Connect ${connector.name}`}
          </Button>
        )}
        {connector.auth.kind === "none" && connector.id !== "http" && (
          <span className="text-sm text-slate-700">Nothing to connect: use its steps in a workflow</span>
        )}
      </div>
      {connections.length > 0 && <Quota service={connector.id} />}
      {connections.length > 0 && (
        <ul className="mt-2 space-y-2">
          {connections.map((credential) => (
            <Connection key={credential.id} credential={credential} />
          ))}
        </ul>
      )}
      {open && connector.auth.kind === "api_key" && <ApiKeyForm connector={connector} onDone={() => setOpen(false)} />}
      {open && connector.auth.kind === "fields" && <FieldsForm connector={connector} onDone={() => setOpen(false)} />}
      {open && connector.id === "http" && <HttpCredentialForm onDone={() => setOpen(false)} />}
      {open && connector.auth.kind === "oauth2" && <OAuthConnect connector={connector} onDone={() => setOpen(false)} />}
    </li>
  );
}

function Connection({ credential }: { credential: Credential }) {
  const mayEdit = useMayEdit();
  const queries = useQueryClient();
  const [result, setResult] = useState<{ tone: "info" | "error"; text: string } | null>(null);
  const test = useMutation({
    mutationFn: () =>
      api<{ ok: boolean; error?: string }>(`/api/v1/credentials/${credential.id}/test`, { method: "POST" }),
    onSuccess: (checked) => {
      setResult(
        checked.ok
          ? { tone: "info", text: "It works: Baton reached the service with it." }
          : { tone: "error", text: `It did not work: ${checked.error ?? "the service refused it"}.` },
      );
      void queries.invalidateQueries({ queryKey: ["credentials"] });
    },
    onError: (failure) => setResult({ tone: "error", text: describe(failure) }),
  });
  const remove = useMutation({
    mutationFn: () => api(`/api/v1/credentials/${credential.id}`, { method: "DELETE" }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["credentials"] }),
    onError: (failure) => setResult({ tone: "error", text: describe(failure) }),
  });
  const [naming, setNaming] = useState<string | null>(null);
  const rename = useMutation({
    mutationFn: (name: string) => api(`/api/v1/credentials/${credential.id}`, { method: "PATCH", body: { name } }),
    onSuccess: async () => {
      setNaming(null);
      setResult({ tone: "info", text: "Renamed. Workflows that named the old name need the new one." });
      await queries.invalidateQueries({ queryKey: ["credentials"] });
    },
    onError: (failure) => setResult({ tone: "error", text: describe(failure) }),
  });
  return (
    <li className="rounded-md bg-slate-50 p-3" aria-label={`Connection ${credential.name}`}>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <span className="text-sm text-slate-900">
          <span className="font-medium">{credential.name}</span> ·{" "}
          {credential.status === "connected" ? (
            <span className="text-emerald-800">Connected</span>
          ) : (
            <span className="text-red-800">Reconnect needed: {credential.reconnect_reason}</span>
          )}
        </span>
        {mayEdit && (
          <span className="flex gap-2">
            <Button tone="plain" onClick={() => test.mutate()} disabled={test.isPending}>
              {test.isPending ? "Testing…" : "Test"}
            </Button>
            <Button tone="plain" onClick={() => setNaming(credential.name)}>
              Rename
            </Button>
            <Button tone="danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
              Remove
            </Button>
          </span>
        )}
      </div>
      {naming !== null && (
        <form
          className="mt-2"
          onSubmit={(event) => {
            event.preventDefault();
            rename.mutate(naming);
          }}
        >
          <Field label="New name" name="rename" value={naming} onChange={setNaming} hint="Workflows choose a connection by its name." />
          <span className="flex gap-2">
            <Button type="submit" disabled={rename.isPending}>
              Save name
            </Button>
            <Button tone="plain" onClick={() => setNaming(null)}>
              Cancel
            </Button>
          </span>
        </form>
      )}
      {result && (
        <div className="mt-2">
          <Alert tone={result.tone}>{result.text}</Alert>
        </div>
      )}
    </li>
  );
}

/**
 * A new credential's form: the fields given, then Save (stores it, refreshes the list, closes)
 * and Cancel.
 */
function NewCredentialForm(props: {
  service: string;
  name: string;
  secret: () => Record<string, unknown>;
  saveLabel: string;
  onDone: () => void;
  children: ReactNode;
}) {
  const queries = useQueryClient();
  const save = useMutation({
    mutationFn: () => api("/api/v1/credentials", { body: { service: props.service, name: props.name, secret: props.secret() } }),
    onSuccess: async () => {
      await queries.invalidateQueries({ queryKey: ["credentials"] });
      props.onDone();
    },
  });
  return (
    <form
      className="mt-3"
      onSubmit={(event) => {
        event.preventDefault();
        save.mutate();
      }}
    >
      {props.children}
      {save.isError && <Alert tone="error">{describe(save.error)}</Alert>}
      <span className="flex gap-2">
        <Button type="submit" disabled={save.isPending}>
          {save.isPending ? "Saving…" : props.saveLabel}
        </Button>
        <Button tone="plain" onClick={props.onDone}>
          Cancel
        </Button>
      </span>
    </form>
  );
}

/**
 * A connection made from a key or token typed in: an API key (`api_key`), or a token pasted
 * instead of connecting with OAuth (`access_token`, labelled and explained by the connector).
 */
function ApiKeyForm({
  connector,
  onDone,
  pasted,
}: {
  connector: Connector;
  onDone: () => void;
  pasted?: { label: string; hint: string };
}) {
  const [name, setName] = useState(connector.id);
  const [key, setKey] = useState("");
  const field = pasted ? "access_token" : "api_key";
  return (
    <NewCredentialForm service={connector.id} name={name} secret={() => ({ [field]: key.trim() })} saveLabel="Save connection" onDone={onDone}>
      <Field
        label="Connection name"
        name="name"
        value={name}
        onChange={setName}
        hint="Workflows choose a connection by this name."
      />
      <Field
        label={pasted ? `${connector.name} ${pasted.label.toLowerCase()}` : `${connector.name} API key`}
        name={field}
        type="password"
        autoComplete="off"
        value={key}
        onChange={setKey}
        hint={`${pasted ? `${pasted.hint} ` : ""}Stored encrypted; nobody can read it back, not even you.`}
      />
    </NewCredentialForm>
  );
}

/**
 * A connection made from a form the connector declares field by field (a mail server's host,
 * port, security, user and password): each value stored under the field's id, empty optional
 * ones left out, a checkbox as true or false.
 */
function FieldsForm({ connector, onDone }: { connector: Connector; onDone: () => void }) {
  const fields = connector.auth.fields ?? [];
  const [name, setName] = useState(connector.id);
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(fields.map((field) => [field.id, field.default ?? ""])),
  );
  const [checked, setChecked] = useState<Record<string, boolean>>({});
  const set = (id: string) => (value: string) => setValues((now) => ({ ...now, [id]: value }));
  const secret = () => {
    const out: Record<string, unknown> = {};
    for (const field of fields) {
      if (field.kind === "checkbox") out[field.id] = Boolean(checked[field.id]);
      else if (field.kind === "password") {
        if (values[field.id]) out[field.id] = values[field.id];
      } else if (values[field.id]?.trim()) out[field.id] = values[field.id]!.trim();
    }
    return out;
  };
  return (
    <NewCredentialForm service={connector.id} name={name} secret={secret} saveLabel="Save connection" onDone={onDone}>
      <Field label="Connection name" name="name" value={name} onChange={setName} hint="Workflows choose a connection by this name." />
      {fields.map((field) => {
        if (field.kind === "checkbox")
          return (
            <div key={field.id} className="mb-4">
              <label className="flex items-center gap-2 text-sm text-slate-800">
                <input
                  type="checkbox"
                  name={field.id}
                  checked={Boolean(checked[field.id])}
                  onChange={(event) => setChecked((now) => ({ ...now, [field.id]: event.target.checked }))}
                />
                {field.label}
              </label>
              {field.hint && <p className="mt-1 text-sm text-slate-600">{field.hint}</p>}
            </div>
          );
        if (field.kind === "choice")
          return (
            <div key={field.id} className="mb-4">
              <label htmlFor={`field-${field.id}`} className="mb-1 block text-sm font-medium text-slate-800">
                {field.label}
              </label>
              <select
                id={`field-${field.id}`}
                name={field.id}
                value={values[field.id] ?? ""}
                onChange={(event) => set(field.id)(event.target.value)}
                className="w-full rounded-md border border-slate-300 px-2 py-2"
              >
                {(field.options ?? []).map((option) => (
                  <option key={option.value} value={option.value}>
                    {option.label}
                  </option>
                ))}
              </select>
            </div>
          );
        return (
          <Field
            key={field.id}
            label={field.label}
            name={field.id}
            type={field.kind === "password" ? "password" : field.kind === "number" ? "number" : "text"}
            autoComplete="off"
            required={field.required}
            value={values[field.id] ?? ""}
            onChange={set(field.id)}
            hint={field.kind === "password" ? `${field.hint} Stored encrypted; nobody can read it back, not even you.` : field.hint}
          />
        );
      })}
    </NewCredentialForm>
  );
}

function OAuthConnect({ connector, onDone }: { connector: Connector; onDone: () => void }) {
  const me = useMe();
  const [error, setError] = useState<string | null>(null);
  const paste = connector.auth.paste;
  const [pasting, setPasting] = useState(Boolean(paste && !connector.auth.configured));
  const callback = `${window.location.origin}/api/v1/credentials/oauth/callback`;
  if (paste && pasting) return <ApiKeyForm connector={connector} onDone={onDone} pasted={paste} />;
  if (!connector.auth.configured) {
    const isAdmin = ["owner", "admin"].includes(me.active_organization.role);
    return (
      <div className="mt-3">
        <Alert tone="info">
          {`${connector.name} is not set up on this Baton yet. ${
            isAdmin
              ? `Register an OAuth app with ${connector.name} using the address below as its redirect URL, then give Baton its client id and secret (see the README's configuration).`
              : "Ask your admin to set it up."
          }`}
        </Alert>
        {isAdmin && <CopyField label="Redirect URL to register" value={callback} />}
        <Button tone="plain" onClick={onDone}>
          Close
        </Button>
      </div>
    );
  }
  const connect = async () => {
    // Opened inside the click, so the browser allows it; pointed at the consent page once known.
    const consent = window.open("about:blank", "_blank");
    if (!consent) {
      setError("Your browser blocked the new window. Allow pop-ups for this site and click again.");
      return;
    }
    try {
      const started = await api<{ authorize_url: string }>(
        `/api/v1/credentials/oauth/${connector.id}/start`,
        { body: {} },
      );
      consent.location.href = started.authorize_url;
      onDone();
    } catch (failure) {
      consent.close();
      setError(describe(failure));
    }
  };
  return (
    <div className="mt-3">
      <p className="mb-2 text-sm text-slate-700">{`You will sign in to ${connector.name} in a new window and allow Baton in.`}</p>
      {error && <Alert tone="error">{error}</Alert>}
      <span className="flex gap-2">
        <Button onClick={connect}>{`Continue to ${connector.name}`}</Button>
        {paste && (
          <Button tone="plain" onClick={() => setPasting(true)}>
            Paste a token instead
          </Button>
        )}
        <Button tone="plain" onClick={onDone}>
          Cancel
        </Button>
      </span>
    </div>
  );
}

type QuotaAnswer = {
  quota: { used: number; remaining: number; resets_in_seconds: number; limit: { requests: number } } | null;
};

/** How much of the service's rate limit the organization is using in the current window. */
function Quota({ service }: { service: string }) {
  const quota = useQuery({
    queryKey: ["quota", service],
    queryFn: () => api<QuotaAnswer>(`/api/v1/connectors/${encodeURIComponent(service)}/quota`),
  });
  const shown = quota.data?.quota;
  if (!shown) return null;
  return (
    <p className="mt-1 text-sm text-slate-700">
      {`Used ${shown.used} of ${shown.limit.requests} calls allowed now; the count starts again in ${shown.resets_in_seconds} s.`}
    </p>
  );
}

/** A credential for the HTTP request step: how it signs in, and the only hosts it is sent to. */
function HttpCredentialForm({ onDone }: { onDone: () => void }) {
  const [name, setName] = useState("");
  const [kind, setKind] = useState<"bearer" | "header" | "basic">("bearer");
  const [first, setFirst] = useState("");
  const [second, setSecond] = useState("");
  const [hosts, setHosts] = useState("");
  const secret = () => {
    const listed = hosts.split(/[\s,]+/).filter(Boolean);
    if (kind === "bearer") return { bearer: first, hosts: listed };
    if (kind === "header") return { header: { name: first, value: second }, hosts: listed };
    return { basic: { username: first, password: second }, hosts: listed };
  };
  const labels = {
    bearer: ["Token", null],
    header: ["Header name", "Header value"],
    basic: ["Username", "Password"],
  }[kind];
  return (
    <NewCredentialForm service="http" name={name} secret={secret} saveLabel="Save credential" onDone={onDone}>
      <Field label="Credential name" name="name" value={name} onChange={setName} hint="HTTP steps choose it by this name." />
      <label htmlFor="http-kind" className="mb-1 block text-sm font-medium text-slate-800">
        How it signs in
      </label>
      <select
        id="http-kind"
        value={kind}
        onChange={(event) => setKind(event.target.value as typeof kind)}
        className="mb-4 w-full rounded-md border border-slate-300 px-2 py-2"
      >
        <option value="bearer">A bearer token</option>
        <option value="header">A header of its own</option>
        <option value="basic">A user name and password</option>
      </select>
      <Field label={labels[0]!} name="first" type={kind === "bearer" ? "password" : "text"} autoComplete="off" value={first} onChange={setFirst} />
      {labels[1] && <Field label={labels[1]} name="second" type="password" autoComplete="off" value={second} onChange={setSecond} />}
      <Field
        label="Hosts it may be sent to"
        name="hosts"
        value={hosts}
        onChange={setHosts}
        hint="e.g. api.example.com, *.example.org. Baton never sends it anywhere else."
      />
    </NewCredentialForm>
  );
}
