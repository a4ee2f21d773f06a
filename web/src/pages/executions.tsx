// Runs: the list, and one run as a timeline of its steps, kept live while it runs.
import { useEffect, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams } from "react-router";
import { api } from "../lib/api";
import { describe } from "../lib/errors";
import { useMayEdit } from "../shell";
import { Alert, Button, StateBadge } from "../ui";

type Usage = { input_tokens: number; output_tokens: number };
export type Step = {
  id: string;
  state: string;
  input: unknown;
  output: unknown;
  error: { message?: string; class?: string } | null;
  attempts: number;
  duration_ms: number | null;
  usage: Usage;
  cost_usd: string | number;
};
export type Execution = {
  id: string;
  workflow_id: string;
  workflow_version: number;
  state: string;
  trigger: string;
  error: { message?: string; step?: string } | null;
  output: unknown;
  cost_usd: string | number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  steps: Step[];
};

const FINISHED = ["COMPLETED", "FAILED", "CANCELLED"];

const STATES = ["RUNNING", "WAITING", "COMPLETED", "FAILED", "CANCELLED", "PENDING"];

export function ExecutionList() {
  const [state, setState] = useState("");
  const [workflow, setWorkflow] = useState("");
  const filtered = state !== "" || workflow !== "";
  const workflows = useQuery({
    queryKey: ["workflows"],
    queryFn: () => api<{ items: { id: string; name: string }[] }>("/api/v1/workflows"),
  });
  const executions = useQuery({
    queryKey: ["executions", state, workflow],
    queryFn: () => {
      const query = new URLSearchParams();
      if (state) query.set("state", state);
      if (workflow) query.set("workflow", workflow);
      return api<{ items: Omit<Execution, "steps">[] }>(`/api/v1/executions?${query}`);
    },
  });
  const select = "rounded-md border border-slate-300 px-2 py-2 text-sm";
  return (
    <section>
      <h1 className="mb-4 text-2xl font-semibold text-slate-900">Runs</h1>
      <div className="mb-4 flex flex-wrap gap-3">
        <label className="text-sm font-medium text-slate-800">
          State{" "}
          <select value={state} onChange={(event) => setState(event.target.value)} className={select}>
            <option value="">Any</option>
            {STATES.map((name) => (
              <option key={name} value={name}>
                {name.charAt(0) + name.slice(1).toLowerCase()}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm font-medium text-slate-800">
          Workflow{" "}
          <select value={workflow} onChange={(event) => setWorkflow(event.target.value)} className={select}>
            <option value="">Any</option>
            {workflows.data?.items.map((item) => (
              <option key={item.id} value={item.id}>
                {item.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      {executions.isPending && <p role="status">Loading runs…</p>}
      {executions.isError && <Alert tone="error">{describe(executions.error)}</Alert>}
      {executions.data?.items.length === 0 && (
        <p className="text-slate-700">{filtered ? "No runs match." : "Nothing has run yet."}</p>
      )}
      {executions.data && executions.data.items.length > 0 && (
        <ul className="divide-y divide-slate-200 rounded-lg bg-white ring-1 ring-slate-200">
          {executions.data.items.map((execution) => (
            <li key={execution.id} className="flex flex-wrap items-center justify-between gap-2 px-4 py-3">
              <Link to={`/executions/${execution.id}`} className="font-medium text-indigo-800 hover:underline">
                {execution.workflow_id}
              </Link>
              <span className="flex items-center gap-2 text-sm text-slate-700">
                <StateBadge state={execution.state} />
                {new Date(execution.created_at).toLocaleString()}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** Reloads the execution whenever its live events say something moved, until it finishes. */
function useLive(id: string, state: string | undefined) {
  const queries = useQueryClient();
  useEffect(() => {
    if (!state || FINISHED.includes(state)) return;
    const events = new EventSource(`/api/v1/executions/${id}/events`);
    const refresh = () => queries.invalidateQueries({ queryKey: ["execution", id] });
    for (const name of ["step", "execution", "done"]) events.addEventListener(name, refresh);
    events.addEventListener("done", () => events.close());
    return () => events.close();
  }, [id, state, queries]);
}

export function ExecutionPage() {
  const { id = "" } = useParams();
  const mayEdit = useMayEdit();
  const queries = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const execution = useQuery({
    queryKey: ["execution", id],
    queryFn: () => api<Execution>(`/api/v1/executions/${id}`),
  });
  useLive(id, execution.data?.state);
  const act = useMutation({
    mutationFn: (action: "cancel" | "retry") => api(`/api/v1/executions/${id}/${action}`, { method: "POST" }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["execution", id] }),
    onError: (failure) => setError(describe(failure)),
  });
  if (execution.isPending) return <p role="status">Loading…</p>;
  if (execution.isError) return <Alert tone="error">{describe(execution.error)}</Alert>;
  const run = execution.data;
  return (
    <section>
      <h1 className="mb-1 text-2xl font-semibold text-slate-900">
        Run of <Link to={`/workflows/${run.workflow_id}`} className="text-indigo-800 hover:underline">{run.workflow_id}</Link>
      </h1>
      <p className="mb-4 flex flex-wrap items-center gap-2 text-sm text-slate-700">
        <StateBadge state={run.state} />
        <span>started {new Date(run.created_at).toLocaleString()}</span>
        <span>· AI cost ${Number(run.cost_usd).toFixed(4)}</span>
      </p>
      {error && <Alert tone="error">{error}</Alert>}
      {run.error?.message && run.state === "FAILED" && (
        <Alert tone="error">{`Step ${run.error.step ?? "?"} failed: ${run.error.message}`}</Alert>
      )}
      {mayEdit && (
        <div className="mb-4 flex gap-2">
          {!FINISHED.includes(run.state) && (
            <Button tone="danger" onClick={() => act.mutate("cancel")} disabled={act.isPending}>
              Cancel run
            </Button>
          )}
          {run.state === "FAILED" && (
            <Button onClick={() => act.mutate("retry")} disabled={act.isPending}>
              Retry from the failed step
            </Button>
          )}
        </div>
      )}
      <h2 className="mb-2 text-lg font-semibold text-slate-900">Steps</h2>
      {run.steps.length === 0 && <p className="text-slate-700">No step has started yet.</p>}
      <ol className="space-y-2">
        {run.steps.map((step) => (
          <StepCard key={step.id} step={step} />
        ))}
      </ol>
    </section>
  );
}

function StepCard({ step }: { step: Step }) {
  const tokens = step.usage.input_tokens + step.usage.output_tokens;
  return (
    <li className="rounded-lg bg-white p-3 ring-1 ring-slate-200" aria-label={`Step ${step.id}`}>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <span className="font-mono text-sm font-semibold text-slate-900">{step.id}</span>
        <span className="flex flex-wrap items-center gap-2 text-xs text-slate-700">
          <StateBadge state={step.state} />
          {step.duration_ms !== null && <span>{step.duration_ms} ms</span>}
          {step.attempts > 1 && <span>{step.attempts} attempts</span>}
          {tokens > 0 && <span>{tokens} tokens · ${Number(step.cost_usd).toFixed(4)}</span>}
        </span>
      </div>
      {step.error?.message && <p className="mt-2 text-sm text-red-800">{step.error.message}</p>}
      <Value label="Input" value={step.input} />
      <Value label="Output" value={step.output} />
    </li>
  );
}

const SHOWN = 2000;

/** A value as collapsible JSON; a large one is cut until "Show all". */
function Value({ label, value }: { label: string; value: unknown }) {
  const [all, setAll] = useState(false);
  if (value === null || value === undefined) return null;
  const text = JSON.stringify(value, null, 2);
  const cut = !all && text.length > SHOWN;
  return (
    <details className="mt-2">
      <summary className="cursor-pointer text-sm font-medium text-slate-800">{label}</summary>
      <pre
        tabIndex={0}
        aria-label={label}
        className="mt-1 max-h-96 overflow-auto rounded bg-slate-50 p-2 text-xs text-slate-900 focus:outline-none focus:ring-2 focus:ring-indigo-500"
      >
        {cut ? `${text.slice(0, SHOWN)}\n…` : text}
      </pre>
      {cut && (
        <button type="button" onClick={() => setAll(true)} className="text-sm text-indigo-800 underline">
          Show all ({Math.round(text.length / 1024)} KB)
        </button>
      )}
    </details>
  );
}
