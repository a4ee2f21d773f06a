// Settings: the organization (name, AI budget, two-factor rule, AI prices), API keys (each
// shown once), my account (name, password, two-factor with its QR code and recovery codes),
// and the audit log.
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Tabs } from "radix-ui";
import { api, type ApiPath } from "../lib/api";
import { actionWords, ACTIONS } from "../lib/audit";
import { describe } from "../lib/errors";
import { NOTIFY_CHOICES } from "../lib/workflow";
import { useMe } from "../shell";
import { Alert, Button, buttonClass, Choice, CopyField, Field } from "../ui";

type Organization = { organization: { name: string; require_mfa: boolean; ai_monthly_budget_usd: number | null; retention_days: number | null } };
type Key = { id: string; name: string; role: string; prefix: string; last_used_at: string | null; revoked_at: string | null };

const box = "mb-6 rounded-lg bg-white p-4 ring-1 ring-slate-200";
const tabClass =
  "border-b-2 border-transparent px-3 py-2 text-sm font-medium text-slate-700 hover:text-slate-900 focus:outline-none focus:ring-2 focus:ring-indigo-600 data-[state=active]:border-indigo-700 data-[state=active]:text-indigo-800";

export function Settings() {
  const me = useMe();
  const manages = ["owner", "admin"].includes(me.active_organization.role);
  const [tab, setTab] = useState(manages ? "organization" : "account");
  return (
    <section>
      <h1 className="mb-4 text-2xl font-semibold text-slate-900">Settings</h1>
      <Tabs.Root value={tab} onValueChange={setTab}>
        <Tabs.List aria-label="Settings" className="mb-4 flex flex-wrap gap-1 border-b border-slate-200">
          {manages && (
            <Tabs.Trigger value="organization" className={tabClass}>
              Organization
            </Tabs.Trigger>
          )}
          <Tabs.Trigger value="account" className={tabClass}>
            My account
          </Tabs.Trigger>
          {manages && (
            <Tabs.Trigger value="audit" className={tabClass}>
              Audit log
            </Tabs.Trigger>
          )}
          {manages && (
            <Tabs.Trigger value="usage" className={tabClass}>
              Usage and feedback
            </Tabs.Trigger>
          )}
        </Tabs.List>
        {manages && (
          <Tabs.Content value="organization" className="focus:outline-none">
            <OrganizationSettings />
            <AiPrices />
            <ApiKeys />
            <GatewayUsage />
            {me.active_organization.role === "owner" && <OrganizationData />}
          </Tabs.Content>
        )}
        <Tabs.Content value="account" className="focus:outline-none">
          {!manages && <p className="mb-4 text-slate-700">Only Owners and Admins change the organization's settings.</p>}
          <MyAccount />
        </Tabs.Content>
        {manages && (
          <Tabs.Content value="audit" className="focus:outline-none">
            <AuditLog />
          </Tabs.Content>
        )}
        {manages && (
          <Tabs.Content value="usage" className="focus:outline-none">
            <Usage />
            <FeedbackList />
          </Tabs.Content>
        )}
      </Tabs.Root>
    </section>
  );
}

function OrganizationSettings() {
  const queries = useQueryClient();
  const organization = useQuery({ queryKey: ["organization"], queryFn: () => api<Organization>("/api/v1/organization") });
  const [name, setName] = useState<string | null>(null);
  const [budget, setBudget] = useState<string | null>(null);
  const [requireMfa, setRequireMfa] = useState<boolean | null>(null);
  const [retention, setRetention] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const current = organization.data?.organization;
  const shownBudget = budget ?? (current?.ai_monthly_budget_usd != null ? String(current.ai_monthly_budget_usd) : "");
  const shownMfa = requireMfa ?? current?.require_mfa ?? false;
  const shownRetention = retention ?? (current?.retention_days != null ? String(current.retention_days) : "");
  const shownName = name ?? current?.name ?? "";
  const save = useMutation({
    mutationFn: () =>
      api("/api/v1/organization", {
        method: "PATCH",
        body: {
          name: shownName,
          ai_monthly_budget_usd: shownBudget.trim() === "" ? null : Number(shownBudget),
          require_mfa: shownMfa,
          retention_days: shownRetention.trim() === "" ? null : Number(shownRetention),
        },
      }),
    onSuccess: () => {
      setSaved(true);
      void queries.invalidateQueries({ queryKey: ["organization"] });
      void queries.invalidateQueries({ queryKey: ["me"] });
    },
  });
  return (
    <form
      className={box}
      onSubmit={(event) => {
        event.preventDefault();
        setSaved(false);
        save.mutate();
      }}
    >
      <h2 className="mb-3 text-lg font-semibold text-slate-900">Organization</h2>
      <Field label="Organization name" name="organization-name" value={shownName} onChange={setName} />
      <Field
        label="AI budget per month (US dollars)"
        name="ai_monthly_budget_usd"
        type="number"
        required={false}
        value={shownBudget}
        onChange={setBudget}
        hint="AI steps stop once the month's spend reaches it. Leave empty for no limit."
      />
      <Field
        label="Keep run history for (days)"
        name="retention_days"
        type="number"
        required={false}
        value={shownRetention}
        onChange={setRetention}
        hint="Finished runs, with what each step read and wrote, are deleted after this many days. Leave empty for 30."
      />
      <label className="mb-4 flex items-center gap-2 text-sm text-slate-800">
        <input type="checkbox" checked={shownMfa} onChange={(event) => setRequireMfa(event.target.checked)} />
        Everyone must sign in with two-factor
      </label>
      {save.isError && <Alert tone="error">{describe(save.error)}</Alert>}
      {saved && <Alert tone="info">Saved.</Alert>}
      <Button type="submit" disabled={save.isPending}>
        Save settings
      </Button>
    </form>
  );
}

function ApiKeys() {
  const queries = useQueryClient();
  const keys = useQuery({ queryKey: ["api-keys"], queryFn: () => api<{ items: Key[] }>("/api/v1/api-keys") });
  const [name, setName] = useState("");
  const [role, setRole] = useState("member");
  const [made, setMade] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const create = useMutation({
    mutationFn: () => api<{ key: string }>("/api/v1/api-keys", { body: { name, role } }),
    onSuccess: (answer) => {
      setMade(answer.key);
      setCopied(false);
      setName("");
      void queries.invalidateQueries({ queryKey: ["api-keys"] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api(`/api/v1/api-keys/${id}`, { method: "DELETE" }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["api-keys"] }),
  });
  const live = keys.data?.items.filter((key) => !key.revoked_at) ?? [];
  return (
    <div className={box}>
      <h2 className="mb-3 text-lg font-semibold text-slate-900">API keys</h2>
      {made && (
        <div role="status" className="mb-4 rounded-md bg-amber-50 p-3 text-sm text-amber-950 ring-1 ring-amber-200">
          <p className="mb-2 font-medium">Copy this key now: it is shown only once.</p>
          <code aria-label="The new API key" className="block break-all rounded bg-white px-2 py-1">
            {made}
          </code>
          <span className="mt-2 flex gap-2">
            <Button tone="plain" onClick={() => navigator.clipboard.writeText(made).then(() => setCopied(true))}>
              {copied ? "Copied" : "Copy"}
            </Button>
            <Button tone="plain" onClick={() => setMade(null)}>
              Done
            </Button>
          </span>
        </div>
      )}
      {live.length > 0 && (
        <ul className="mb-4 divide-y divide-slate-200">
          {live.map((key) => (
            <li key={key.id} className="flex flex-wrap items-center justify-between gap-2 py-2" aria-label={`API key ${key.name}`}>
              <span className="text-sm text-slate-800">
                <span className="font-medium">{key.name}</span> · <span className="capitalize">{key.role}</span> ·{" "}
                <code>{key.prefix}…</code> · {key.last_used_at ? `used ${new Date(key.last_used_at).toLocaleString()}` : "never used"}
              </span>
              <Button tone="danger" onClick={() => revoke.mutate(key.id)}>
                Revoke
              </Button>
            </li>
          ))}
        </ul>
      )}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          create.mutate();
        }}
      >
        <Field label="Key name" name="key-name" value={name} onChange={setName} hint="Where it will be used, e.g. Zapier." />
        <label htmlFor="key-role" className="mb-1 block text-sm font-medium text-slate-800">
          Acts as
        </label>
        <select id="key-role" value={role} onChange={(event) => setRole(event.target.value)} className="mb-3 w-full rounded-md border border-slate-300 px-2 py-2">
          <option value="admin">Admin</option>
          <option value="member">Member</option>
          <option value="viewer">Viewer</option>
        </select>
        {create.isError && <Alert tone="error">{describe(create.error)}</Alert>}
        {revoke.isError && <Alert tone="error">{describe(revoke.error)}</Alert>}
        <Button type="submit" disabled={create.isPending}>
          Make a key
        </Button>
      </form>
    </div>
  );
}

type KeyUsage = {
  api_key_id: string;
  name: string | null;
  prefix: string | null;
  revoked: boolean;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
};

/** The OpenAI-compatible gateway: how an app calls it, and what each API key's calls used. */
function GatewayUsage() {
  const [days, setDays] = useState(30);
  const usage = useQuery({ queryKey: ["ai-usage", days], queryFn: () => api<{ items: KeyUsage[] }>(`/api/v1/ai/usage?days=${days}` as ApiPath) });
  const base = `${window.location.origin}/v1`;
  const items = usage.data?.items ?? [];
  return (
    <div className={box} role="region" aria-label="AI gateway">
      <h2 className="mb-2 text-lg font-semibold text-slate-900">AI gateway</h2>
      <p className="mb-2 text-sm text-slate-700">
        Your own apps can use the AI providers connected here as they would use OpenAI: point an OpenAI library at this address with one of the API keys
        above, and name models as provider/model, e.g. openai/gpt-4o-mini or anthropic/claude-sonnet-4-5. Budgets, prices and fallbacks apply as in
        workflows.
      </p>
      <CopyField label="Gateway address (base URL)" value={base} />
      <div className="mb-2 mt-3 flex items-center gap-2">
        <h3 className="font-medium text-slate-900">Use by key</h3>
        <label className="text-sm text-slate-800">
          <span className="sr-only">Period</span>
          <select value={days} onChange={(event) => setDays(Number(event.target.value))} aria-label="Period" className="rounded-md border border-slate-300 px-2 py-1">
            <option value={7}>Last 7 days</option>
            <option value={30}>Last 30 days</option>
            <option value={90}>Last 90 days</option>
          </select>
        </label>
      </div>
      {usage.isError && <Alert tone="error">{describe(usage.error)}</Alert>}
      {items.length === 0 ? (
        <p className="text-sm text-slate-700">No calls through the gateway in this period.</p>
      ) : (
        <table className="w-full text-left text-sm">
          <thead>
            <tr className="text-slate-700">
              <th className="py-1 font-medium">Key</th>
              <th className="py-1 font-medium">Requests</th>
              <th className="py-1 font-medium">Tokens in / out</th>
              <th className="py-1 font-medium">AI cost</th>
            </tr>
          </thead>
          <tbody>
            {items.map((item) => (
              <tr key={item.api_key_id} className="border-t border-slate-200" aria-label={`Use of key ${item.name ?? item.api_key_id}`}>
                <td className="py-1">
                  {item.name ?? "A deleted key"}
                  {item.prefix && <code className="ml-1 text-slate-600">{item.prefix}…</code>}
                  {item.revoked && <span className="ml-1 text-slate-600">(revoked)</span>}
                </td>
                <td className="py-1">{item.requests}</td>
                <td className="py-1">{`${item.input_tokens.toLocaleString()} / ${item.output_tokens.toLocaleString()}`}</td>
                <td className="py-1">{`$${Number(item.cost_usd).toFixed(4)}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

type Price = { provider: string; model: string; input_per_million_usd: number; output_per_million_usd: number };

const PROVIDERS = ["openai", "anthropic", "google", "cohere"];

/** The model prices AI cost is counted with: the shipped list, and the organization's own. */
function AiPrices() {
  const queries = useQueryClient();
  const prices = useQuery({ queryKey: ["ai-prices"], queryFn: () => api<{ organization: Price[]; list: Price[] }>("/api/v1/ai/prices") });
  const [provider, setProvider] = useState("openai");
  const [model, setModel] = useState("");
  const [input, setInput] = useState("");
  const [output, setOutput] = useState("");
  const at = (price: Pick<Price, "provider" | "model">): ApiPath =>
    `/api/v1/ai/prices/${encodeURIComponent(price.provider)}/${encodeURIComponent(price.model)}`;
  const refresh = () => queries.invalidateQueries({ queryKey: ["ai-prices"] });
  const set = useMutation({
    mutationFn: () =>
      api(at({ provider, model }), {
        method: "PUT",
        body: { input_per_million_usd: Number(input), output_per_million_usd: Number(output) },
      }),
    onSuccess: () => {
      setModel("");
      setInput("");
      setOutput("");
      return refresh();
    },
  });
  const remove = useMutation({ mutationFn: (price: Price) => api(at(price), { method: "DELETE" }), onSuccess: refresh });
  const money = (dollars: number) => `$${dollars.toFixed(2)}`;
  return (
    <div className={box}>
      <h2 className="mb-1 text-lg font-semibold text-slate-900">AI prices</h2>
      <p className="mb-3 text-sm text-slate-700">
        Baton counts each AI step's cost with these prices, in US dollars per million tokens. Set your own when you have a
        negotiated rate or use a model the list does not know.
      </p>
      {prices.isError && <Alert tone="error">{describe(prices.error)}</Alert>}
      {prices.data && prices.data.organization.length > 0 && (
        <ul aria-label="Your prices" className="mb-3 divide-y divide-slate-200">
          {prices.data.organization.map((price) => (
            <li key={`${price.provider}/${price.model}`} className="flex flex-wrap items-center justify-between gap-2 py-2 text-sm">
              <span>
                <span className="font-medium">{price.model}</span> ({price.provider}): {money(price.input_per_million_usd)} in,{" "}
                {money(price.output_per_million_usd)} out
              </span>
              <Button tone="danger" onClick={() => remove.mutate(price)}>
                Use the list price
              </Button>
            </li>
          ))}
        </ul>
      )}
      {prices.data && (
        <details className="mb-3">
          <summary className="cursor-pointer text-sm font-medium text-slate-800">The list prices ({prices.data.list.length} models)</summary>
          <ul className="mt-2 max-h-64 overflow-auto text-sm text-slate-800" tabIndex={0} aria-label="List prices">
            {prices.data.list.map((price) => (
              <li key={`${price.provider}/${price.model}`}>
                {price.model} ({price.provider}): {money(price.input_per_million_usd)} in, {money(price.output_per_million_usd)} out
              </li>
            ))}
          </ul>
        </details>
      )}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          set.mutate();
        }}
      >
        <label htmlFor="price-provider" className="mb-1 block text-sm font-medium text-slate-800">
          Provider
        </label>
        <select id="price-provider" value={provider} onChange={(event) => setProvider(event.target.value)} className="mb-3 w-full rounded-md border border-slate-300 px-2 py-2">
          {PROVIDERS.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
        <Field label="Model (or the start of its name)" name="price-model" value={model} onChange={setModel} hint="e.g. gpt-4o-mini" />
        <Field label="Input, dollars per million tokens" name="price-input" type="number" value={input} onChange={setInput} />
        <Field label="Output, dollars per million tokens" name="price-output" type="number" value={output} onChange={setOutput} />
        {set.isError && <Alert tone="error">{describe(set.error)}</Alert>}
        {remove.isError && <Alert tone="error">{describe(remove.error)}</Alert>}
        <Button type="submit" disabled={set.isPending}>
          Set price
        </Button>
      </form>
    </div>
  );
}

/** The signed-in person's own name, password and two-factor sign-in. */
function MyAccount() {
  const me = useMe();
  const queries = useQueryClient();
  const [name, setName] = useState(me.user.name);
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const rename = useMutation({
    mutationFn: () => api("/api/v1/me", { method: "PATCH", body: { name } }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["me"] }),
  });
  const password = useMutation({
    mutationFn: () => api("/api/v1/me/password", { body: { current_password: current, new_password: next } }),
    onSuccess: () => {
      setCurrent("");
      setNext("");
    },
  });
  return (
    <>
      <form
        className={box}
        onSubmit={(event) => {
          event.preventDefault();
          rename.mutate();
        }}
      >
        <h2 className="mb-3 text-lg font-semibold text-slate-900">My account</h2>
        <p className="mb-3 text-sm text-slate-700">Signed in as {me.user.email}.</p>
        <Field label="Your name" name="name" autoComplete="name" value={name} onChange={setName} />
        {rename.isError && <Alert tone="error">{describe(rename.error)}</Alert>}
        {rename.isSuccess && <Alert tone="info">Your name is saved.</Alert>}
        <Button type="submit" disabled={rename.isPending}>
          Save name
        </Button>
      </form>
      {me.user.has_password !== false && (
        <form
          className={box}
          onSubmit={(event) => {
            event.preventDefault();
            password.mutate();
          }}
        >
          <h2 className="mb-3 text-lg font-semibold text-slate-900">Password</h2>
          <Field label="Current password" name="current-password" type="password" autoComplete="current-password" value={current} onChange={setCurrent} />
          <Field
            label="New password"
            name="new-password"
            type="password"
            autoComplete="new-password"
            value={next}
            onChange={setNext}
            hint="At least 12 characters. Your other devices are signed out."
          />
          {password.isError && <Alert tone="error">{describe(password.error)}</Alert>}
          {password.isSuccess && <Alert tone="info">Your password is changed; other devices are signed out.</Alert>}
          <Button type="submit" disabled={password.isPending}>
            Change password
          </Button>
        </form>
      )}
      <Notifications />
      <TwoFactor />
      <MyData />
    </>
  );
}

/** A deletion typed out before it is made: the button stays off until `expected` is typed. */
function TypedDeletion(props: {
  label: string;
  name: string;
  type?: string;
  expected?: string;
  button: string;
  remove: (typed: string) => Promise<unknown>;
}) {
  const [typed, setTyped] = useState("");
  const remove = useMutation({
    mutationFn: () => props.remove(typed),
    // Whatever the session was, it is over: start from the sign-in page.
    onSuccess: () => window.location.assign("/sign-in"),
  });
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        remove.mutate();
      }}
    >
      <Field label={props.label} name={props.name} type={props.type} autoComplete="off" value={typed} onChange={setTyped} />
      {remove.isError && <Alert tone="error">{describe(remove.error)}</Alert>}
      <Button type="submit" tone="solidDanger" disabled={remove.isPending || typed === "" || (props.expected !== undefined && typed.trim() !== props.expected)}>
        {props.button}
      </Button>
    </form>
  );
}

/** The Owner's download of everything, and the organization's deletion. */
function OrganizationData() {
  const me = useMe();
  const name = me.organizations.find((organization) => organization.id === me.active_organization.id)?.name ?? "";
  return (
    <section className={box} aria-labelledby="organization-data">
      <h2 id="organization-data" className="mb-1 text-lg font-semibold text-slate-900">
        The organization's data
      </h2>
      <p className="mb-3 text-sm text-slate-700">
        Download everything as a zip of JSON files: workflows with every version, runs with each step, members, the audit log, and which
        services are connected. No password, key or token is in it.
      </p>
      <a href="/api/v1/organization/export" download className={buttonClass("plain")}>
        Download everything
      </a>
      <h3 className="mb-1 mt-5 font-medium text-red-900">Delete this organization</h3>
      <p className="mb-3 text-sm text-slate-700">
        Its workflows, runs, connections, API keys and audit log are deleted at once and for good, and nobody can sign in to it again.
        Download everything first if you may need it.
      </p>
      <TypedDeletion
        label={`Type "${name}" to confirm`}
        name="confirm-organization"
        expected={name}
        button="Delete the organization"
        remove={(typed) => api("/api/v1/organization", { method: "DELETE", body: { confirm: typed.trim() } })}
      />
    </section>
  );
}

/** A person's own data: a download, and the account's deletion. */
function MyData() {
  const me = useMe();
  const withPassword = me.user.has_password !== false;
  return (
    <section className={box} aria-labelledby="my-data">
      <h2 id="my-data" className="mb-1 text-lg font-semibold text-slate-900">
        Your data
      </h2>
      <p className="mb-3 text-sm text-slate-700">Download what Baton holds about you: your account, your organizations and what you did in them.</p>
      <a href="/api/v1/me/export" download className={buttonClass("plain")}>
        Download my data
      </a>
      <h3 className="mb-1 mt-5 font-medium text-red-900">Delete my account</h3>
      <p className="mb-3 text-sm text-slate-700">
        You are signed out and cannot sign in again. The workflows you made stay with your organizations; an organization where you are the
        only member is deleted with your account.
      </p>
      <TypedDeletion
        label={withPassword ? "Your password, to confirm" : `Type your e-mail address (${me.user.email}) to confirm`}
        name="confirm-account"
        type={withPassword ? "password" : "text"}
        expected={withPassword ? undefined : me.user.email}
        button="Delete my account"
        remove={(typed) => api("/api/v1/me", { method: "DELETE", body: { confirm: typed } })}
      />
    </section>
  );
}

/** How soon Baton tells this person that a workflow of theirs failed or waits for approval. */
function Notifications() {
  const me = useMe();
  const queries = useQueryClient();
  const [notify, setNotify] = useState(me.user.notify ?? "immediately");
  const save = useMutation({
    mutationFn: () => api("/api/v1/me", { method: "PATCH", body: { notify } }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["me"] }),
  });
  return (
    <form
      className={box}
      onSubmit={(event) => {
        event.preventDefault();
        save.mutate();
      }}
    >
      <h2 className="mb-1 text-lg font-semibold text-slate-900">Notifications</h2>
      <p className="mb-3 text-sm text-slate-700">
        When a workflow you made fails, or waits for someone to approve it, Baton e-mails you at {me.user.email}.
      </p>
      <Choice
        label="E-mail me"
        name="notify"
        value={notify}
        onChange={setNotify}
        options={NOTIFY_CHOICES}
        hint="At once: the first failure right away, then at most one message an hour while a workflow keeps failing."
      />
      {save.isError && <Alert tone="error">{describe(save.error)}</Alert>}
      {save.isSuccess && <Alert tone="info">Saved.</Alert>}
      <Button type="submit" disabled={save.isPending}>
        Save notifications
      </Button>
    </form>
  );
}

/** Two-factor sign-in: enrol by scanning a QR code and typing a first code; recovery codes once. */
function TwoFactor() {
  const me = useMe();
  const queries = useQueryClient();
  const [code, setCode] = useState("");
  const [recovery, setRecovery] = useState<string[] | null>(null);
  const enroll = useMutation({
    mutationFn: () => api<{ secret: string; qr_code_png_base64: string }>("/api/v1/auth/mfa/enroll", { method: "POST" }),
  });
  const verify = useMutation({
    mutationFn: () => api<{ recovery_codes: string[] }>("/api/v1/auth/mfa/verify", { body: { code: code.trim() } }),
    onSuccess: (answer) => {
      setRecovery(answer.recovery_codes);
      setCode("");
      enroll.reset();
      void queries.invalidateQueries({ queryKey: ["me"] });
    },
  });
  const disable = useMutation({
    mutationFn: () => api("/api/v1/auth/mfa/disable", { body: { code: code.trim() } }),
    onSuccess: () => {
      setCode("");
      void queries.invalidateQueries({ queryKey: ["me"] });
    },
  });
  const on = me.user.two_factor === true;
  return (
    <div className={box}>
      <h2 className="mb-1 text-lg font-semibold text-slate-900">Two-factor sign-in</h2>
      <p className="mb-3 text-sm text-slate-700">
        {on
          ? "On: signing in asks for a code from your authenticator app."
          : "Off. Turn it on so a stolen password alone cannot open your account."}
      </p>
      {recovery && (
        <div role="status" className="mb-4 rounded-md bg-amber-50 p-3 text-sm text-amber-950 ring-1 ring-amber-200">
          <p className="mb-2 font-medium">Save these recovery codes now: each works once if you lose your phone, and they are not shown again.</p>
          <ul aria-label="Recovery codes" className="grid grid-cols-2 gap-1 font-mono">
            {recovery.map((one) => (
              <li key={one}>{one}</li>
            ))}
          </ul>
          <div className="mt-2">
            <Button tone="plain" onClick={() => setRecovery(null)}>
              I saved them
            </Button>
          </div>
        </div>
      )}
      {!on && !enroll.data && (
        <Button onClick={() => enroll.mutate()} disabled={enroll.isPending}>
          Turn on two-factor
        </Button>
      )}
      {!on && enroll.data && (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            verify.mutate();
          }}
        >
          <p className="mb-2 text-sm text-slate-800">Scan this with your authenticator app, then type the code it shows.</p>
          <img
            src={`data:image/png;base64,${enroll.data.qr_code_png_base64}`}
            alt="QR code to add Baton to an authenticator app"
            className="mb-2 h-48 w-48"
          />
          <p className="mb-3 break-all text-sm text-slate-700">
            Or enter this key by hand: <code aria-label="Two-factor key">{enroll.data.secret}</code>
          </p>
          <Field label="Code from the app" name="totp" autoComplete="one-time-code" value={code} onChange={setCode} />
          {verify.isError && <Alert tone="error">{describe(verify.error)}</Alert>}
          <Button type="submit" disabled={verify.isPending}>
            Confirm and turn on
          </Button>
        </form>
      )}
      {on && (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            disable.mutate();
          }}
        >
          <Field label="A current code, to turn it off" name="totp-off" autoComplete="one-time-code" value={code} onChange={setCode} />
          {disable.isError && <Alert tone="error">{describe(disable.error)}</Alert>}
          <Button type="submit" tone="danger" disabled={disable.isPending}>
            Turn off two-factor
          </Button>
        </form>
      )}
      {enroll.isError && <Alert tone="error">{describe(enroll.error)}</Alert>}
    </div>
  );
}

type AuditEvent = { id: string; actor: string | null; action: string; target: string | null; ip: string | null; at: string; details: unknown };

/** The audit log, newest first, by action and by person; older pages on demand. */
function AuditLog() {
  const [action, setAction] = useState("");
  const [actor, setActor] = useState("");
  const [pages, setPages] = useState<(string | null)[]>([null]);
  const members = useQuery({
    queryKey: ["members"],
    queryFn: () => api<{ items: { user: { id: string; name: string; email: string } }[] }>("/api/v1/members"),
  });
  const who = (id: string | null) => {
    if (!id) return "Someone not signed in";
    const member = members.data?.items.find((item) => item.user.id === id);
    return member ? member.user.name || member.user.email : "A former member";
  };
  const select = "rounded-md border border-slate-300 px-2 py-2 text-sm";
  return (
    <div>
      <div className="mb-4 flex flex-wrap gap-3">
        <label className="text-sm font-medium text-slate-800">
          What{" "}
          <select value={action} onChange={(event) => { setAction(event.target.value); setPages([null]); }} className={select}>
            <option value="">Anything</option>
            {Object.entries(ACTIONS).map(([name, words]) => (
              <option key={name} value={name}>
                {words.charAt(0).toUpperCase() + words.slice(1)}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm font-medium text-slate-800">
          Who{" "}
          <select value={actor} onChange={(event) => { setActor(event.target.value); setPages([null]); }} className={select}>
            <option value="">Anyone</option>
            {members.data?.items.map(({ user }) => (
              <option key={user.id} value={user.id}>
                {user.name || user.email}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ol aria-label="Audit log" className="divide-y divide-slate-200 rounded-lg bg-white ring-1 ring-slate-200">
        {pages.map((cursor, index) => (
          <AuditPage
            key={`${action}|${actor}|${cursor}`}
            action={action}
            actor={actor}
            cursor={cursor}
            who={who}
            more={index === pages.length - 1 ? (next) => setPages([...pages, next]) : null}
          />
        ))}
      </ol>
    </div>
  );
}

function AuditPage(props: {
  action: string;
  actor: string;
  cursor: string | null;
  who: (id: string | null) => string;
  more: ((cursor: string) => void) | null;
}) {
  const events = useQuery({
    queryKey: ["audit", props.action, props.actor, props.cursor],
    queryFn: () => {
      const query = new URLSearchParams({ limit: "50" });
      if (props.action) query.set("action", props.action);
      if (props.actor) query.set("actor", props.actor);
      if (props.cursor) query.set("cursor", props.cursor);
      return api<{ items: AuditEvent[]; next_cursor: string | null }>(`/api/v1/audit?${query}`);
    },
  });
  if (events.isPending) return <li role="status" className="px-4 py-3">Loading…</li>;
  if (events.isError) return <li className="px-4 py-3"><Alert tone="error">{describe(events.error)}</Alert></li>;
  return (
    <>
      {events.data.items.length === 0 && props.cursor === null && <li className="px-4 py-3 text-slate-700">Nothing matches.</li>}
      {events.data.items.map((event) => (
        <li key={event.id} className="px-4 py-2 text-sm text-slate-800">
          <span className="font-medium">{props.who(event.actor)}</span> {actionWords(event.action)}
          {event.target && <span className="text-slate-600"> ({event.target})</span>}
          <span className="block text-xs text-slate-600">
            {new Date(event.at).toLocaleString()}
            {event.ip && ` · from ${event.ip}`}
          </span>
        </li>
      ))}
      {props.more && events.data.next_cursor && (
        <li className="px-4 py-3">
          <Button tone="plain" onClick={() => props.more!(events.data.next_cursor!)}>
            Show older
          </Button>
        </li>
      )}
    </>
  );
}

type UsageDay = { day: string; workflows_created: number; runs_completed: number; runs_failed: number; active_people: number };
type UsageReport = {
  days: UsageDay[];
  totals: { workflows_created: number; runs_completed: number; runs_failed: number; success_rate_percent: number | null };
  templates: { template: string; uses: number }[];
  services: { service: string; connections: number }[];
};

/** How the organization used Baton in the last 30 days, counted on this server. */
function Usage() {
  const usage = useQuery({ queryKey: ["insights"], queryFn: () => api<UsageReport>("/api/v1/insights?days=30") });
  const report = usage.data;
  const most = Math.max(1, ...(report?.days ?? []).map((day) => day.runs_completed + day.runs_failed));
  return (
    <section className={box} aria-labelledby="usage">
      <h2 id="usage" className="mb-1 text-lg font-semibold text-slate-900">
        Usage in the last 30 days
      </h2>
      <p className="mb-3 text-sm text-slate-700">Counted on this server from your own workflows and runs; nothing is sent anywhere.</p>
      {usage.isError && <Alert tone="error">{describe(usage.error)}</Alert>}
      {report && (
        <>
          <dl className="mb-4 grid grid-cols-2 gap-3 sm:grid-cols-4">
            {[
              ["Workflows made", String(report.totals.workflows_created)],
              ["Runs finished", String(report.totals.runs_completed + report.totals.runs_failed)],
              ["Runs failed", String(report.totals.runs_failed)],
              ["Success rate", report.totals.success_rate_percent === null ? "–" : `${report.totals.success_rate_percent}%`],
            ].map(([label, value]) => (
              <div key={label} className="rounded-md bg-slate-50 p-3 ring-1 ring-slate-200">
                <dt className="text-xs text-slate-600">{label}</dt>
                <dd className="text-xl font-semibold text-slate-900">{value}</dd>
              </div>
            ))}
          </dl>
          <table className="mb-4 w-full text-left text-sm">
            <caption className="mb-1 text-left font-medium text-slate-900">Day by day</caption>
            <thead>
              <tr className="text-slate-600">
                <th className="py-1 font-medium">Day</th>
                <th className="py-1 font-medium">Runs (failed)</th>
                <th className="py-1 font-medium">Made</th>
                <th className="py-1 font-medium">People</th>
              </tr>
            </thead>
            <tbody>
              {report.days
                .filter((day) => day.runs_completed + day.runs_failed + day.workflows_created + day.active_people > 0)
                .reverse()
                .map((day) => (
                  <tr key={day.day} className="border-t border-slate-100">
                    <td className="py-1 pr-2 text-slate-800">{day.day}</td>
                    <td className="py-1 pr-2">
                      <span className="flex items-center gap-2">
                        <span aria-hidden="true" className="inline-block h-2 rounded bg-indigo-600" style={{ width: `${Math.round(((day.runs_completed + day.runs_failed) / most) * 80)}px` }} />
                        {day.runs_completed + day.runs_failed}
                        {day.runs_failed > 0 && <span className="text-red-800">({day.runs_failed})</span>}
                      </span>
                    </td>
                    <td className="py-1 pr-2 text-slate-800">{day.workflows_created}</td>
                    <td className="py-1 text-slate-800">{day.active_people}</td>
                  </tr>
                ))}
            </tbody>
          </table>
          <div className="grid gap-4 sm:grid-cols-2">
            <Counts title="Templates used" empty="None in this period." counts={report.templates.map((template) => [template.template, template.uses])} />
            <Counts title="Services connected" empty="None yet." counts={report.services.map((service) => [service.service, service.connections])} />
          </div>
        </>
      )}
    </section>
  );
}

/** A short list of names with their counts, or a sentence when there is none. */
function Counts(props: { title: string; empty: string; counts: [string, number][] }) {
  return (
    <div>
      <h3 className="mb-1 font-medium text-slate-900">{props.title}</h3>
      {props.counts.length === 0 ? (
        <p className="text-sm text-slate-700">{props.empty}</p>
      ) : (
        <ul className="text-sm text-slate-800">
          {props.counts.map(([name, count]) => (
            <li key={name}>
              {name}: {count}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

type FeedbackItem = {
  id: string;
  kind: "nps" | "bug" | "idea";
  score: number | null;
  comment: string;
  page: string | null;
  last_error: string | null;
  from: string | null;
  created_at: string;
};

const FEEDBACK_KINDS: Record<FeedbackItem["kind"], string> = { nps: "Rating", bug: "Problem", idea: "Idea" };

/** What people sent with "Send feedback", newest first, with the Net Promoter Score. */
function FeedbackList() {
  const feedback = useQuery({
    queryKey: ["feedback"],
    queryFn: () => api<{ items: FeedbackItem[]; nps: { responses: number; score: number | null } }>("/api/v1/feedback"),
  });
  const data = feedback.data;
  return (
    <section className={box} aria-labelledby="feedback">
      <h2 id="feedback" className="mb-1 text-lg font-semibold text-slate-900">
        Feedback
      </h2>
      {feedback.isError && <Alert tone="error">{describe(feedback.error)}</Alert>}
      {data && (
        <>
          <p className="mb-3 text-sm text-slate-700">
            {data.nps.score === null
              ? "No ratings yet."
              : `Net Promoter Score ${data.nps.score > 0 ? "+" : ""}${data.nps.score}, from ${data.nps.responses} rating${data.nps.responses === 1 ? "" : "s"}.`}{" "}
            Anyone in the organization can send feedback from the foot of any page.
          </p>
          {data.items.length === 0 ? (
            <p className="text-sm text-slate-700">Nothing sent yet.</p>
          ) : (
            <ul aria-label="Feedback received" className="space-y-2">
              {data.items.map((item) => (
                <li key={item.id} className="rounded-md p-3 text-sm ring-1 ring-slate-200">
                  <p className="font-medium text-slate-900">
                    {FEEDBACK_KINDS[item.kind]}
                    {item.score !== null && `: ${item.score} out of 10`}{" "}
                    <span className="font-normal text-slate-600">
                      from {item.from ?? "a former member"}, {new Date(item.created_at).toLocaleString()}
                    </span>
                  </p>
                  {item.comment && <p className="whitespace-pre-line text-slate-800">{item.comment}</p>}
                  {item.page && <p className="text-slate-600">On {item.page}</p>}
                  {item.last_error && <p className="break-all text-slate-600">Last error: {item.last_error}</p>}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}

