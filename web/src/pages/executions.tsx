// Runs: the list, and one run as a timeline of its steps, kept live while it runs.
import { useEffect, useMemo, useRef, useState } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams, useSearchParams } from "react-router";
import { api } from "../lib/api";
import { describe } from "../lib/errors";
import { notesOf, timeline, whatToTry, type Entry } from "../lib/timeline";
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
  input?: unknown;
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

/** The time filter's choices: how far back, in days (0: since midnight). */
const PERIODS: { value: string; label: string; days: number | null }[] = [
  { value: "", label: "Any time", days: null },
  { value: "today", label: "Today", days: 0 },
  { value: "week", label: "Last 7 days", days: 7 },
  { value: "month", label: "Last 30 days", days: 30 },
];

function sinceOf(period: string): string | null {
  const days = PERIODS.find((choice) => choice.value === period)?.days;
  if (days === null || days === undefined) return null;
  const now = new Date();
  const start = days === 0 ? new Date(now.getFullYear(), now.getMonth(), now.getDate()) : new Date(now.getTime() - days * 86400000);
  return start.toISOString();
}

/** Workflow ids to names, for showing runs by the name a person gave. */
export function useWorkflowNames() {
  const workflows = useQuery({
    queryKey: ["workflows"],
    queryFn: () => api<{ items: { id: string; name: string }[] }>("/api/v1/workflows"),
  });
  const names = new Map(workflows.data?.items.map((item) => [item.id, item.name]));
  return { items: workflows.data?.items ?? [], name: (id: string) => names.get(id) ?? id };
}

export function ExecutionList() {
  const [params, setParams] = useSearchParams();
  const state = params.get("state") ?? "";
  const workflow = params.get("workflow") ?? "";
  const period = params.get("time") ?? "";
  const set = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  };
  const filtered = state !== "" || workflow !== "" || period !== "";
  const workflows = useWorkflowNames();
  const executions = useQuery({
    queryKey: ["executions", state, workflow, period],
    queryFn: () => {
      const query = new URLSearchParams();
      if (state) query.set("state", state);
      if (workflow) query.set("workflow", workflow);
      const since = sinceOf(period);
      if (since) query.set("since", since);
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
          <select value={state} onChange={(event) => set("state", event.target.value)} className={select}>
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
          <select value={workflow} onChange={(event) => set("workflow", event.target.value)} className={select}>
            <option value="">Any</option>
            {workflows.items.map((item) => (
              <option key={item.id} value={item.id}>
                {item.name}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm font-medium text-slate-800">
          When{" "}
          <select value={period} onChange={(event) => set("time", event.target.value)} className={select}>
            {PERIODS.map((choice) => (
              <option key={choice.value} value={choice.value}>
                {choice.label}
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
                {workflows.name(execution.workflow_id)}
              </Link>
              <span className="flex items-center gap-2 text-sm text-slate-700">
                {execution.trigger === "step_test" && <span className="rounded bg-slate-100 px-1.5 text-xs">step test</span>}
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

/**
 * Keeps the execution current from its live events until it finishes: each event carries what
 * changed (a step, the state, at the end the whole run), so nothing is fetched again.
 */
function useLive(id: string, state: string | undefined) {
  const queries = useQueryClient();
  useEffect(() => {
    if (!state || FINISHED.includes(state)) return;
    const events = new EventSource(`/api/v1/executions/${id}/events`);
    const patch = (change: (run: Execution) => Execution) =>
      queries.setQueryData<Execution>(["execution", id], (run) => (run ? change(run) : run));
    events.addEventListener("step", (event) => {
      const step = JSON.parse((event as MessageEvent).data) as Step;
      patch((run) => {
        const at = run.steps.findIndex((known) => known.id === step.id);
        const steps = at < 0 ? [...run.steps, step] : run.steps.map((known, index) => (index === at ? step : known));
        return { ...run, steps };
      });
    });
    events.addEventListener("execution", (event) => {
      const { state: now } = JSON.parse((event as MessageEvent).data) as { state: string };
      patch((run) => ({ ...run, state: now }));
    });
    events.addEventListener("done", (event) => {
      const whole = JSON.parse((event as MessageEvent).data) as Execution;
      if (whole.steps) queries.setQueryData(["execution", id], whole);
      else queries.invalidateQueries({ queryKey: ["execution", id] });
      events.close();
    });
    return () => events.close();
  }, [id, state, queries]);
}

export function ExecutionPage() {
  const { id = "" } = useParams();
  const mayEdit = useMayEdit();
  const queries = useQueryClient();
  const workflows = useWorkflowNames();
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
  const entries = useMemo(() => timeline(execution.data?.steps ?? []), [execution.data?.steps]);
  if (execution.isPending) return <p role="status">Loading…</p>;
  if (execution.isError) return <Alert tone="error">{describe(execution.error)}</Alert>;
  const run = execution.data;
  const failedStep = run.steps.find((step) => step.state === "FAILED");
  return (
    <section>
      <h1 className="mb-1 text-2xl font-semibold text-slate-900">
        Run of{" "}
        <Link to={`/workflows/${run.workflow_id}`} className="text-indigo-800 underline underline-offset-2">
          {workflows.name(run.workflow_id)}
        </Link>
      </h1>
      <p className="mb-4 flex flex-wrap items-center gap-2 text-sm text-slate-700">
        <StateBadge state={run.state} />
        <span>started {new Date(run.created_at).toLocaleString()}</span>
        {run.started_at && run.finished_at && (
          <span>· took {duration(new Date(run.finished_at).getTime() - new Date(run.started_at).getTime())}</span>
        )}
        <span>· AI cost ${Number(run.cost_usd).toFixed(4)}</span>
      </p>
      {error && <Alert tone="error">{error}</Alert>}
      {run.error?.message && run.state === "FAILED" && (
        <div role="alert" className="mb-4 rounded-md bg-red-50 p-3 text-sm text-red-900 ring-1 ring-red-200">
          <p className="font-medium">{`Step "${run.error.step ?? "?"}" failed: ${run.error.message}`}</p>
          <p className="mt-1">What to try: {whatToTry(failedStep?.error ?? (run.error as Step["error"]))}</p>
        </div>
      )}
      {mayEdit && (
        <div className="mb-4 flex flex-wrap gap-2">
          {!FINISHED.includes(run.state) && (
            <Button tone="danger" onClick={() => act.mutate("cancel")} disabled={act.isPending}>
              Cancel run
            </Button>
          )}
          {run.state === "FAILED" && (
            <>
              <Button onClick={() => act.mutate("retry")} disabled={act.isPending}>
                Retry from the failed step
              </Button>
              <Link
                to={`/workflows/${encodeURIComponent(run.workflow_id)}/build?execution=${run.id}`}
                className="rounded-md px-3 py-2 text-sm font-medium text-slate-900 ring-1 ring-slate-300 hover:bg-slate-50"
              >
                Fix it in the builder
              </Link>
            </>
          )}
        </div>
      )}
      <Value label="Run input" value={run.input} />
      <h2 className="mb-2 mt-4 text-lg font-semibold text-slate-900">Steps</h2>
      {run.steps.length === 0 && <p className="text-slate-700">No step has started yet.</p>}
      <Timeline entries={entries} />
      {run.output !== null && run.output !== undefined && <Value label="Run output" value={run.output} />}
    </section>
  );
}

function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

function Timeline({ entries }: { entries: Entry<Step>[] }) {
  return (
    <ol className="space-y-2">
      {entries.map((entry) =>
        entry.kind === "step" ? (
          <StepCard key={entry.name} name={entry.name} step={entry.step} />
        ) : (
          <LoopCard key={entry.name} entry={entry} />
        ),
      )}
    </ol>
  );
}

function StepCard({ name, step }: { name: string; step: Step }) {
  const tokens = step.usage.input_tokens + step.usage.output_tokens;
  const advice = step.state === "FAILED" ? whatToTry(step.error) : null;
  const notes = notesOf(step.output);
  return (
    <li className="rounded-lg bg-white p-3 ring-1 ring-slate-200" aria-label={`Step ${name}`}>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <span className="font-mono text-sm font-semibold text-slate-900">{name}</span>
        <span className="flex flex-wrap items-center gap-2 text-xs text-slate-700">
          <StateBadge state={step.state} />
          {step.duration_ms !== null && <span>{duration(step.duration_ms)}</span>}
          {step.attempts > 1 && <span>{step.attempts} attempts</span>}
          {tokens > 0 && (
            <span>
              {tokens} tokens · ${Number(step.cost_usd).toFixed(4)}
            </span>
          )}
        </span>
      </div>
      {step.error?.message && <p className="mt-2 text-sm text-red-800">{step.error.message}</p>}
      {advice && <p className="mt-1 text-sm text-slate-800">What to try: {advice}</p>}
      {notes.length > 0 && (
        <ul aria-label="What happened" className="mt-2 list-disc space-y-0.5 pl-5 text-sm text-amber-900">
          {notes.map((note) => (
            <li key={note}>{note}</li>
          ))}
        </ul>
      )}
      <Value label="Input" value={step.input} />
      <Value label="Output" value={step.output} />
    </li>
  );
}

const ROW = 40;

/** A loop: its items in a virtualized list (a thousand stay smooth), one item's steps at a time. */
function LoopCard({ entry }: { entry: Extract<Entry<Step>, { kind: "loop" }> }) {
  const items = entry.items;
  // An agent's turns are numbered from 1, and are turns, not items.
  const agent = Boolean((entry.step?.input as { tools?: unknown } | null | undefined)?.tools);
  const firstFailed = items.findIndex((item) => item.state === "FAILED");
  const [chosen, setChosen] = useState<number | null>(null);
  const position = chosen ?? Math.max(firstFailed, 0);
  const scroller = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer({ count: items.length, getScrollElement: () => scroller.current, estimateSize: () => ROW, overscan: 8 });
  const failed = items.filter((item) => item.state === "FAILED").length;
  const item = items[position];
  // The item shown first (the first failed one) is scrolled into the list's view too.
  const shownFirst = useRef(position);
  useEffect(() => {
    if (shownFirst.current > 0) rows.scrollToIndex(shownFirst.current, { align: "center" });
  }, [rows]);
  const go = (next: number) => {
    setChosen(next);
    rows.scrollToIndex(next, { align: "auto" });
  };
  return (
    <li className="rounded-lg bg-white p-3 ring-1 ring-slate-200" aria-label={`Loop ${entry.name}`}>
      <div className="mb-2 flex flex-wrap items-center justify-between gap-2">
        <span className="font-mono text-sm font-semibold text-slate-900">{entry.name}</span>
        <span className="flex items-center gap-2 text-xs text-slate-700">
          {entry.step && <StateBadge state={entry.step.state} />}
          <span>
            {items.length} {agent ? (items.length === 1 ? "turn" : "turns") : items.length === 1 ? "item" : "items"}
            {failed > 0 && `, ${failed} failed`}
          </span>
        </span>
      </div>
      {items.length > 0 && (
        <div className="grid gap-3 sm:grid-cols-[12rem_1fr]">
          <div ref={scroller} className="h-64 overflow-auto rounded ring-1 ring-slate-200" aria-label={`Items of ${entry.name}`}>
            <ul style={{ height: rows.getTotalSize(), position: "relative" }}>
              {rows.getVirtualItems().map((row) => {
                const shown = items[row.index];
                return (
                  <li key={row.key} style={{ position: "absolute", top: 0, left: 0, right: 0, height: ROW, transform: `translateY(${row.start}px)` }}>
                    <button
                      type="button"
                      aria-current={row.index === position}
                      onClick={() => setChosen(row.index)}
                      className={`flex h-full w-full items-center justify-between px-2 text-left text-sm focus:outline-none focus:ring-2 focus:ring-inset focus:ring-indigo-600 ${
                        row.index === position ? "bg-indigo-50 font-semibold" : "hover:bg-slate-50"
                      }`}
                    >
                      {agent ? `Turn ${shown.index}` : `Item ${shown.index + 1}`} <StateBadge state={shown.state} />
                    </button>
                  </li>
                );
              })}
            </ul>
          </div>
          {item && (
            <div>
              <div className="mb-2 flex flex-wrap items-center gap-2">
                <Button tone="plain" onClick={() => go(position - 1)} disabled={position === 0}>
                  {agent ? "Previous turn" : "Previous item"}
                </Button>
                <span className="text-sm text-slate-800" aria-live="polite">
                  {agent ? `Turn ${item.index} of ${items.length}` : `Item ${item.index + 1} of ${items.length}`}
                </span>
                <Button tone="plain" onClick={() => go(position + 1)} disabled={position >= items.length - 1}>
                  {agent ? "Next turn" : "Next item"}
                </Button>
              </div>
              <Timeline entries={item.steps} />
            </div>
          )}
        </div>
      )}
      {agent && typeof (entry.step?.output as { response?: unknown } | null | undefined)?.response === "string" && (
        <p className="mt-2 text-sm text-slate-900">{`Answer: ${(entry.step?.output as { response: string }).response}`}</p>
      )}
      {entry.step && <Value label={agent ? "Agent output" : "Loop output"} value={entry.step.output} />}
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
