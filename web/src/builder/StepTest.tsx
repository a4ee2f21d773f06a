// "Test this step": the chosen step run alone with the last run's data (or data typed in),
// its input and output side by side. A safe test shows what a step that sends or writes
// would send, without sending it.
import { useState } from "react";
import { useMutation, useQuery } from "@tanstack/react-query";
import { api } from "../lib/api";
import { ApiError, describe } from "../lib/errors";
import { whatToTry } from "../lib/timeline";
import { Alert, Button, StateBadge } from "../ui";
import type { Step, Workflow } from "./tree";

type Tested = {
  id: string;
  state: string;
  input?: unknown;
  output?: unknown;
  error?: { message?: string; class?: string } | null;
  duration_ms?: number | null;
  usage?: { input_tokens?: number; output_tokens?: number };
  cost_usd?: number;
  stopped?: string;
  source: { kind: string; execution?: string; started_at?: string; input?: string; values_typed_in?: string[] };
};

type Listed = { items: { id: string; trigger: string; state: string; created_at: string }[] };

/** Steps that do one thing are tested alone; the others in a test run. */
export const testable = (step: Step) => step.type === "llm" || step.type === "integration" || step.type === "transformation";

const pretty = (value: unknown) => (value === undefined || value === null ? "nothing" : JSON.stringify(value, null, 2));

/**
 * The run whose data a step reads: the builder's own test run or the run being fixed, else the
 * workflow's latest run (step tests are not runs), with its steps' outputs.
 */
export function useLastRun(workflowKey: string, runId: string | null) {
  const latest = useQuery({
    queryKey: ["executions", "latest", workflowKey],
    queryFn: () => api<Listed>(`/api/v1/executions?workflow=${encodeURIComponent(workflowKey)}&limit=20`),
    enabled: runId === null,
  });
  const id = runId ?? latest.data?.items.find((item) => item.trigger !== "step_test")?.id ?? null;
  const run = useQuery({
    queryKey: ["execution", id],
    queryFn: () => api<{ id: string; steps: { id: string; state: string; output?: unknown }[] }>(`/api/v1/executions/${id}`),
    enabled: id !== null,
  });
  return { id, run: run.data };
}

export function StepTest(props: { workflowKey: string; workflow: Workflow; step: Step; runId: string | null; sample: string }) {
  const lastRun = useLastRun(props.workflowKey, props.runId).id;
  const [from, setFrom] = useState<"run" | "sample">("run");
  const useRun = from === "run" && lastRun !== null;
  const [sample, setSample] = useState(props.sample);
  const [values, setValues] = useState("{}");
  const [safe, setSafe] = useState(true);
  const test = useMutation({
    mutationFn: () => {
      const parse = (text: string, what: string) => {
        try {
          const parsed = JSON.parse(text || "{}") as unknown;
          if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed;
        } catch {
          // said below
        }
        throw new ApiError(422, "invalid", `${what} is not JSON: write it as {"field": "value"}`);
      };
      const body = {
        step: props.step.id,
        definition: props.workflow,
        safe,
        ...(useRun ? { from_execution: lastRun } : { input: parse(sample, "The sample trigger data") }),
        values: parse(values, "The earlier steps' values"),
      };
      return api<Tested>(`/api/v1/workflows/${encodeURIComponent(props.workflowKey)}/test-step`, { body });
    },
  });
  const result = test.data;
  const advice = result?.state === "FAILED" ? whatToTry(result.error ?? null) : null;
  return (
    <section aria-label="Test this step" className="mt-4 border-t border-slate-200 pt-3">
      <h3 className="mb-2 text-base font-semibold text-slate-900">Test this step</h3>
      <fieldset className="mb-2 text-sm text-slate-800">
        <legend className="font-medium">What it reads</legend>
        <label className="mr-3 inline-flex items-center gap-1">
          <input type="radio" name="from" checked={useRun} disabled={lastRun === null} onChange={() => setFrom("run")} />
          {lastRun === null ? "The last run (none yet)" : "The last run's data"}
        </label>
        <label className="inline-flex items-center gap-1">
          <input type="radio" name="from" checked={!useRun} onChange={() => setFrom("sample")} />
          Sample data
        </label>
      </fieldset>
      {!useRun && (
        <label className="mb-2 block text-sm text-slate-800">
          Sample trigger data (JSON)
          <textarea value={sample} onChange={(event) => setSample(event.target.value)} rows={3} spellCheck={false} className="mt-1 w-full rounded-md border border-slate-300 p-2 font-mono text-sm" />
        </label>
      )}
      <details className="mb-2 text-sm text-slate-800">
        <summary className="cursor-pointer">Values of earlier steps (optional)</summary>
        <label className="mt-1 block">
          By step id, over the run's, e.g. {'{"draft": {"response": "Dear Ann"}}'}
          <textarea value={values} onChange={(event) => setValues(event.target.value)} rows={3} spellCheck={false} className="mt-1 w-full rounded-md border border-slate-300 p-2 font-mono text-sm" />
        </label>
      </details>
      <label className="mb-2 flex items-start gap-2 text-sm text-slate-800">
        <input type="checkbox" checked={safe} onChange={(event) => setSafe(event.target.checked)} className="mt-1" />
        <span>Safe test: nothing is sent, posted or written; see what would be sent instead</span>
      </label>
      <Button onClick={() => test.mutate()} disabled={test.isPending}>
        {test.isPending ? "Testing…" : "Test this step"}
      </Button>
      {test.isError && <Alert tone="error">{describe(test.error)}</Alert>}
      {result && (
        <div role="region" aria-label="Test result" className="mt-3 text-sm">
          <p className="mb-1 flex flex-wrap items-center gap-2">
            {result.state === "PREVIEW" ? (
              <span className="rounded bg-amber-100 px-1.5 text-amber-950">Not sent: safe test</span>
            ) : (
              <StateBadge state={result.state} />
            )}
            {typeof result.duration_ms === "number" && <span className="text-slate-700">{result.duration_ms} ms</span>}
            {!!result.usage?.input_tokens && (
              <span className="text-slate-700">
                {result.usage.input_tokens + (result.usage.output_tokens ?? 0)} tokens · ${(result.cost_usd ?? 0).toFixed(4)}
              </span>
            )}
          </p>
          <p className="mb-2 text-slate-700">
            {result.source.kind === "run"
              ? `Data from the run of ${new Date(result.source.started_at ?? "").toLocaleString()}`
              : "Data typed in"}
            {result.source.values_typed_in?.length ? `, with ${result.source.values_typed_in.join(", ")} typed in` : ""}
          </p>
          {result.state === "FAILED" && (
            <Alert tone="error">
              {result.error?.message ?? "The step failed."}
              {advice ? ` What to try: ${advice}` : ""}
            </Alert>
          )}
          <div className="grid gap-2 sm:grid-cols-2">
            <div>
              <h4 className="text-xs font-semibold uppercase text-slate-700">{result.state === "PREVIEW" ? "Would send" : "Input"}</h4>
              <pre aria-label="Step input" className="max-h-64 overflow-auto rounded bg-slate-50 p-2 text-xs">{pretty(result.input)}</pre>
            </div>
            <div>
              <h4 className="text-xs font-semibold uppercase text-slate-700">Output</h4>
              <pre aria-label="Step output" className="max-h-64 overflow-auto rounded bg-slate-50 p-2 text-xs">
                {result.state === "PREVIEW" ? "Nothing yet: turn off safe test to send it." : pretty(result.output)}
              </pre>
            </div>
          </div>
        </div>
      )}
    </section>
  );
}
