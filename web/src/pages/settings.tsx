// Settings: the organization's AI budget and two-factor rule, and API keys (each shown once).
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../lib/api";
import { describe } from "../lib/errors";
import { useMe } from "../shell";
import { Alert, Button, Field } from "../ui";

type Organization = { organization: { name: string; require_mfa: boolean; ai_monthly_budget_usd: number | null } };
type Key = { id: string; name: string; role: string; prefix: string; last_used_at: string | null; revoked_at: string | null };

export function Settings() {
  const me = useMe();
  const manages = ["owner", "admin"].includes(me.active_organization.role);
  return (
    <section>
      <h1 className="mb-4 text-2xl font-semibold text-slate-900">Settings</h1>
      {manages ? (
        <>
          <OrganizationSettings />
          <ApiKeys />
        </>
      ) : (
        <p className="text-slate-700">Only Owners and Admins change the organization's settings.</p>
      )}
    </section>
  );
}

function OrganizationSettings() {
  const queries = useQueryClient();
  const organization = useQuery({ queryKey: ["organization"], queryFn: () => api<Organization>("/api/v1/organization") });
  const [budget, setBudget] = useState<string | null>(null);
  const [requireMfa, setRequireMfa] = useState<boolean | null>(null);
  const [saved, setSaved] = useState(false);
  const current = organization.data?.organization;
  const shownBudget = budget ?? (current?.ai_monthly_budget_usd != null ? String(current.ai_monthly_budget_usd) : "");
  const shownMfa = requireMfa ?? current?.require_mfa ?? false;
  const save = useMutation({
    mutationFn: () =>
      api("/api/v1/organization", {
        method: "PATCH",
        body: {
          ai_monthly_budget_usd: shownBudget.trim() === "" ? null : Number(shownBudget),
          require_mfa: shownMfa,
        },
      }),
    onSuccess: () => {
      setSaved(true);
      void queries.invalidateQueries({ queryKey: ["organization"] });
    },
  });
  return (
    <form
      className="mb-6 rounded-lg bg-white p-4 ring-1 ring-slate-200"
      onSubmit={(event) => {
        event.preventDefault();
        setSaved(false);
        save.mutate();
      }}
    >
      <h2 className="mb-3 text-lg font-semibold text-slate-900">Organization</h2>
      <Field
        label="AI budget per month (US dollars)"
        name="ai_monthly_budget_usd"
        type="number"
        required={false}
        value={shownBudget}
        onChange={setBudget}
        hint="AI steps stop once the month's spend reaches it. Leave empty for no limit."
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
    <div className="rounded-lg bg-white p-4 ring-1 ring-slate-200">
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
