// Workflows: the list, a new one from pasted or uploaded JSON, and a workflow's page with its
// on/off switch and "Run now".
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useParams } from "react-router";
import { api } from "../lib/api";
import { ApiError, describe, field, sentence } from "../lib/errors";
import { lineOf } from "../lib/jsonpath";
import { useMayEdit } from "../shell";
import { Alert, Button } from "../ui";

type Summary = { id: string; name: string; version: number; active: boolean; updated_at: string };
type Stored = Summary & { definition: Record<string, unknown> };

export function WorkflowList() {
  const mayEdit = useMayEdit();
  const workflows = useQuery({
    queryKey: ["workflows"],
    queryFn: () => api<{ items: Summary[] }>("/api/v1/workflows"),
  });
  return (
    <section>
      <div className="mb-4 flex flex-wrap items-center justify-between gap-2">
        <h1 className="text-2xl font-semibold text-slate-900">Workflows</h1>
        {mayEdit && (
          <Link
            to="/workflows/new"
            className="rounded-md bg-indigo-700 px-3 py-2 text-sm font-medium text-white hover:bg-indigo-800 focus:outline-none focus:ring-2 focus:ring-indigo-600 focus:ring-offset-2"
          >
            New workflow
          </Link>
        )}
      </div>
      {workflows.isPending && <p role="status">Loading your workflows…</p>}
      {workflows.isError && <Alert tone="error">{describe(workflows.error)}</Alert>}
      {workflows.data?.items.length === 0 && <p className="text-slate-700">No workflows yet.</p>}
      {workflows.data && workflows.data.items.length > 0 && (
        <ul className="divide-y divide-slate-200 rounded-lg bg-white ring-1 ring-slate-200">
          {workflows.data.items.map((workflow) => (
            <li key={workflow.id} className="flex items-center justify-between gap-2 px-4 py-3">
              <Link to={`/workflows/${workflow.id}`} className="font-medium text-indigo-800 underline-offset-2 hover:underline">
                {workflow.name}
              </Link>
              <span className={workflow.active ? "text-sm text-emerald-800" : "text-sm text-slate-600"}>
                {workflow.active ? "On" : "Off"} · version {workflow.version}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** A workflow's problems, each with the line of the pasted text it concerns. */
type Problem = { line: number | null; where: string; message: string };

function problemsOf(error: unknown, text: string): Problem[] {
  if (!(error instanceof ApiError) || error.details.length === 0) return [];
  return error.details.map((detail) => ({
    line: lineOf(text, detail.path),
    where: detail.path === "$" ? "The workflow" : field(detail.path),
    message: detail.message,
  }));
}

export function NewWorkflow() {
  const navigate = useNavigate();
  const queries = useQueryClient();
  const [text, setText] = useState("");
  const [error, setError] = useState<unknown>(null);
  const save = useMutation({
    mutationFn: async () => {
      let document: unknown;
      try {
        document = JSON.parse(text);
      } catch (failure) {
        throw new ApiError(422, "invalid", `This is not JSON: ${(failure as Error).message}`);
      }
      return api<Stored>("/api/v1/workflows", { body: document });
    },
    onSuccess: async (saved) => {
      await queries.invalidateQueries({ queryKey: ["workflows"] });
      navigate(`/workflows/${saved.id}`);
    },
    onError: setError,
  });
  const problems = problemsOf(error, text);
  return (
    <section>
      <h1 className="mb-2 text-2xl font-semibold text-slate-900">New workflow</h1>
      <p className="mb-4 text-slate-700">Paste a workflow's JSON, or open a .json file.</p>
      <label className="mb-3 block text-sm font-medium text-slate-800">
        Open a file
        <input
          type="file"
          accept="application/json,.json"
          className="mt-1 block text-sm"
          onChange={async (event) => {
            const file = event.target.files?.[0];
            if (file) setText(await file.text());
          }}
        />
      </label>
      <label htmlFor="workflow-json" className="mb-1 block text-sm font-medium text-slate-800">
        Workflow JSON
      </label>
      <textarea
        id="workflow-json"
        value={text}
        onChange={(event) => setText(event.target.value)}
        spellCheck={false}
        rows={16}
        className="mb-3 w-full rounded-md border border-slate-300 p-3 font-mono text-sm focus:border-indigo-600 focus:outline-none focus:ring-2 focus:ring-indigo-600/30"
      />
      {error !== null && (
        <div role="alert" className="mb-3 rounded-md bg-red-50 p-3 text-sm text-red-800 ring-1 ring-red-200">
          <p className="font-medium">{error instanceof ApiError && problems.length > 0 ? sentence(error.message || "the workflow has problems") : describe(error)}</p>
          {problems.length > 0 && (
            <ul className="mt-2 list-disc pl-5">
              {problems.map((problem, index) => (
                <li key={index}>
                  {problem.line !== null && <span className="font-semibold">Line {problem.line}: </span>}
                  {problem.where}: {problem.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <Button onClick={() => save.mutate()} disabled={save.isPending || text.trim() === ""}>
        {save.isPending ? "Saving…" : "Save workflow"}
      </Button>
    </section>
  );
}

export function WorkflowPage() {
  const { id = "" } = useParams();
  const mayEdit = useMayEdit();
  const navigate = useNavigate();
  const queries = useQueryClient();
  const [input, setInput] = useState("{}");
  const [error, setError] = useState<string | null>(null);
  const workflow = useQuery({
    queryKey: ["workflow", id],
    queryFn: () => api<Stored>(`/api/v1/workflows/${encodeURIComponent(id)}`),
  });
  const toggle = useMutation({
    mutationFn: (on: boolean) =>
      api(`/api/v1/workflows/${encodeURIComponent(id)}/${on ? "activate" : "deactivate"}`, { method: "POST" }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["workflow", id] }),
    onError: (failure) => setError(describe(failure)),
  });
  const run = useMutation({
    mutationFn: async () => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(input || "{}");
      } catch {
        throw new ApiError(422, "invalid", "The input is not JSON: write it as {\"field\": \"value\"}");
      }
      return api<{ id: string }>(`/api/v1/workflows/${encodeURIComponent(id)}/runs`, { body: { input: parsed } });
    },
    onSuccess: (execution) => navigate(`/executions/${execution.id}`),
    onError: (failure) => setError(describe(failure)),
  });
  if (workflow.isPending) return <p role="status">Loading…</p>;
  if (workflow.isError) return <Alert tone="error">{describe(workflow.error)}</Alert>;
  const stored = workflow.data;
  return (
    <section>
      <h1 className="mb-1 text-2xl font-semibold text-slate-900">{stored.name}</h1>
      <p className="mb-4 text-sm text-slate-700">
        Version {stored.version} · {stored.active ? "On: its trigger starts runs" : "Off: it runs only when started by hand"}
      </p>
      {error && <Alert tone="error">{error}</Alert>}
      {mayEdit && (
        <div className="mb-6 flex flex-wrap gap-2">
          <Button tone="plain" onClick={() => toggle.mutate(!stored.active)} disabled={toggle.isPending}>
            {stored.active ? "Turn off" : "Turn on"}
          </Button>
        </div>
      )}
      {mayEdit && (
        <div className="mb-6 rounded-lg bg-white p-4 ring-1 ring-slate-200">
          <h2 className="mb-2 text-lg font-semibold text-slate-900">Run now</h2>
          <label htmlFor="run-input" className="mb-1 block text-sm font-medium text-slate-800">
            Input (JSON, what the trigger would give)
          </label>
          <textarea
            id="run-input"
            value={input}
            onChange={(event) => setInput(event.target.value)}
            rows={4}
            spellCheck={false}
            className="mb-3 w-full rounded-md border border-slate-300 p-2 font-mono text-sm"
          />
          <Button onClick={() => run.mutate()} disabled={run.isPending}>
            {run.isPending ? "Starting…" : "Run now"}
          </Button>
        </div>
      )}
      <h2 className="mb-2 text-lg font-semibold text-slate-900">Definition</h2>
      <pre tabIndex={0} aria-label="The workflow's JSON" className="overflow-x-auto rounded-lg bg-slate-900 p-4 text-xs text-slate-100 focus:outline-none focus:ring-2 focus:ring-indigo-500">
        {JSON.stringify(stored.definition, null, 2)}
      </pre>
    </section>
  );
}
