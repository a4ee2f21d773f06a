// Home: how the organization's automations are doing (runs today and this week, success rate,
// AI spend this month against the budget), what needs attention (answers waiting, recent
// failures with one-click retry), and, for a new organization, the first three things to do.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router";
import { api } from "../lib/api";
import { describe } from "../lib/errors";
import { useMayEdit } from "../shell";
import { Alert, Button } from "../ui";

type Run = { id: string; workflow_id: string; state: string; cost_usd: string | number; created_at: string };

function startOfDay(now: Date) {
  return new Date(now.getFullYear(), now.getMonth(), now.getDate());
}

/** The figures of the home page, from the runs since the earlier of a week ago and the month's start. */
export function summarize(runs: Run[], now: Date) {
  const today = startOfDay(now).getTime();
  const week = today - 6 * 24 * 3600 * 1000;
  const month = new Date(now.getFullYear(), now.getMonth(), 1).getTime();
  const at = (run: Run) => new Date(run.created_at).getTime();
  const thisWeek = runs.filter((run) => at(run) >= week);
  const finished = thisWeek.filter((run) => run.state === "COMPLETED" || run.state === "FAILED");
  const succeeded = finished.filter((run) => run.state === "COMPLETED").length;
  return {
    today: runs.filter((run) => at(run) >= today).length,
    week: thisWeek.length,
    successRate: finished.length === 0 ? null : Math.round((100 * succeeded) / finished.length),
    spend: runs.filter((run) => at(run) >= month).reduce((sum, run) => sum + Number(run.cost_usd || 0), 0),
    failures: thisWeek.filter((run) => run.state === "FAILED").slice(0, 5),
  };
}

export function Home() {
  const mayEdit = useMayEdit();
  const queries = useQueryClient();
  const now = new Date();
  const since = new Date(
    Math.min(startOfDay(now).getTime() - 6 * 24 * 3600 * 1000, new Date(now.getFullYear(), now.getMonth(), 1).getTime()),
  );
  const runs = useQuery({
    queryKey: ["executions", "home"],
    queryFn: () =>
      api<{ items: Run[] }>(`/api/v1/executions?limit=500&since=${encodeURIComponent(since.toISOString())}`),
  });
  const organization = useQuery({
    queryKey: ["organization"],
    queryFn: () => api<{ organization: { ai_monthly_budget_usd: number | null } }>("/api/v1/organization"),
  });
  const approvals = useQuery({ queryKey: ["approvals"], queryFn: () => api<{ items: unknown[] }>("/api/v1/approvals") });
  const workflows = useQuery({ queryKey: ["workflows"], queryFn: () => api<{ items: unknown[] }>("/api/v1/workflows") });
  const credentials = useQuery({ queryKey: ["credentials"], queryFn: () => api<{ items: unknown[] }>("/api/v1/credentials") });
  const retry = useMutation({
    mutationFn: (id: string) => api(`/api/v1/executions/${id}/retry`, { method: "POST" }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["executions"] }),
  });
  const figures = runs.data ? summarize(runs.data.items, now) : null;
  const budget = organization.data?.organization.ai_monthly_budget_usd ?? null;
  const steps = [
    { done: (credentials.data?.items.length ?? 0) > 0, label: "Connect an app", to: "/integrations" },
    { done: (workflows.data?.items.length ?? 0) > 0, label: "Add a workflow from a template", to: "/templates" },
    { done: (runs.data?.items.length ?? 0) > 0, label: "Run it", to: "/workflows" },
  ];
  const newcomer = runs.data && workflows.data && credentials.data && steps.some((step) => !step.done);
  return (
    <section>
      <h1 className="mb-4 text-2xl font-semibold text-slate-900">Home</h1>
      {runs.isError && <Alert tone="error">{describe(runs.error)}</Alert>}
      {newcomer && (
        <div className="mb-6 rounded-lg bg-white p-4 ring-1 ring-slate-200">
          <h2 className="mb-2 text-lg font-semibold text-slate-900">Get started</h2>
          <ol className="space-y-2">
            {steps.map((step) => (
              <li key={step.label} className="flex items-center gap-2">
                <span aria-hidden="true" className={step.done ? "text-emerald-700" : "text-slate-400"}>
                  {step.done ? "✓" : "○"}
                </span>
                {step.done ? (
                  <span className="text-slate-700 line-through">{step.label}</span>
                ) : (
                  <Link to={step.to} className="font-medium text-indigo-800 underline">
                    {step.label}
                  </Link>
                )}
                <span className="sr-only">{step.done ? "(done)" : "(to do)"}</span>
              </li>
            ))}
          </ol>
        </div>
      )}
      {figures && (
        <dl className="mb-6 grid grid-cols-2 gap-3 sm:grid-cols-4">
          <Figure label="Runs today" value={String(figures.today)} />
          <Figure label="Runs this week" value={String(figures.week)} />
          <Figure label="Success this week" value={figures.successRate === null ? "—" : `${figures.successRate}%`} />
          <Figure
            label="AI spend this month"
            value={`$${figures.spend.toFixed(2)}${budget !== null ? ` of $${budget.toFixed(2)}` : ""}`}
          />
        </dl>
      )}
      {(approvals.data?.items.length ?? 0) > 0 && (
        <Alert tone="info">
          <Link to="/approvals" className="font-medium underline">
            {approvals.data!.items.length === 1
              ? "1 step is waiting for your answer"
              : `${approvals.data!.items.length} steps are waiting for your answer`}
          </Link>
        </Alert>
      )}
      {figures && figures.failures.length > 0 && (
        <>
          <h2 className="mb-2 text-lg font-semibold text-slate-900">Recent failures</h2>
          {retry.isError && <Alert tone="error">{describe(retry.error)}</Alert>}
          <ul className="divide-y divide-slate-200 rounded-lg bg-white ring-1 ring-slate-200">
            {figures.failures.map((run) => (
              <li key={run.id} className="flex flex-wrap items-center justify-between gap-2 px-4 py-3">
                <Link to={`/executions/${run.id}`} className="font-medium text-indigo-800 hover:underline">
                  {run.workflow_id} · {new Date(run.created_at).toLocaleString()}
                </Link>
                {mayEdit && (
                  <Button tone="plain" onClick={() => retry.mutate(run.id)} disabled={retry.isPending}>
                    Retry
                  </Button>
                )}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function Figure({ label, value }: { label: string; value: string }) {
  return (
    <div className="rounded-lg bg-white p-3 ring-1 ring-slate-200">
      <dt className="text-sm text-slate-700">{label}</dt>
      <dd className="text-xl font-semibold text-slate-900">{value}</dd>
    </div>
  );
}
