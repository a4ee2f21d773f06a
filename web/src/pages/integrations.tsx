// Integrations: every service Baton can call, the organization's connections to each, and
// connecting one: by OAuth (the provider's consent page, opened straight from the click) or with
// an API key. Secrets are sent once and never shown again.
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../lib/api";
import { describe } from "../lib/errors";
import { useMayEdit, useMe } from "../shell";
import { Alert, Button, Field } from "../ui";

type Connector = {
  id: string;
  name: string;
  category: "ai" | "business" | "utility";
  auth: { kind: "none" | "api_key" | "oauth2"; configured?: boolean };
};
type Credential = {
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

function ConnectorCard({ connector, connections }: { connector: Connector; connections: Credential[] }) {
  const mayEdit = useMayEdit();
  const [open, setOpen] = useState(false);
  return (
    <li className="rounded-lg bg-white p-4 ring-1 ring-slate-200" aria-label={connector.name}>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <span className="font-medium text-slate-900">{connector.name}</span>
        {mayEdit && connector.auth.kind !== "none" && !open && (
          <Button tone="plain" onClick={() => setOpen(true)}>
            Connect {connector.name}
          </Button>
        )}
      </div>
      {connections.length > 0 && (
        <ul className="mt-2 space-y-2">
          {connections.map((credential) => (
            <Connection key={credential.id} credential={credential} />
          ))}
        </ul>
      )}
      {open && connector.auth.kind === "api_key" && <ApiKeyForm connector={connector} onDone={() => setOpen(false)} />}
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
            <Button tone="danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
              Remove
            </Button>
          </span>
        )}
      </div>
      {result && (
        <div className="mt-2">
          <Alert tone={result.tone}>{result.text}</Alert>
        </div>
      )}
    </li>
  );
}

function ApiKeyForm({ connector, onDone }: { connector: Connector; onDone: () => void }) {
  const queries = useQueryClient();
  const [name, setName] = useState(connector.id);
  const [key, setKey] = useState("");
  const save = useMutation({
    mutationFn: () =>
      api("/api/v1/credentials", { body: { service: connector.id, name, secret: { api_key: key.trim() } } }),
    onSuccess: async () => {
      await queries.invalidateQueries({ queryKey: ["credentials"] });
      onDone();
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
      <Field
        label="Connection name"
        name="name"
        value={name}
        onChange={setName}
        hint="Workflows choose a connection by this name."
      />
      <Field
        label={`${connector.name} API key`}
        name="api_key"
        type="password"
        autoComplete="off"
        value={key}
        onChange={setKey}
        hint="Stored encrypted; nobody can read it back, not even you."
      />
      {save.isError && <Alert tone="error">{describe(save.error)}</Alert>}
      <span className="flex gap-2">
        <Button type="submit" disabled={save.isPending}>
          {save.isPending ? "Saving…" : "Save connection"}
        </Button>
        <Button tone="plain" onClick={onDone}>
          Cancel
        </Button>
      </span>
    </form>
  );
}

function OAuthConnect({ connector, onDone }: { connector: Connector; onDone: () => void }) {
  const me = useMe();
  const [error, setError] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const callback = `${window.location.origin}/api/v1/credentials/oauth/callback`;
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
        {isAdmin && (
          <p className="flex flex-wrap items-center gap-2 text-sm">
            <code className="break-all rounded bg-slate-100 px-2 py-1">{callback}</code>
            <Button
              tone="plain"
              onClick={() => navigator.clipboard.writeText(callback).then(() => setCopied(true))}
            >
              {copied ? "Copied" : "Copy"}
            </Button>
          </p>
        )}
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
        <Button tone="plain" onClick={onDone}>
          Cancel
        </Button>
      </span>
    </div>
  );
}
