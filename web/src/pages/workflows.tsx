// Workflows: the list, a new one from pasted or uploaded JSON, and a workflow's page: its
// trigger, "Run now", the JSON editor, its versions (what changed, restore), on/off and delete.
import { lazy, Suspense, useMemo, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { parse, type ParseError } from "jsonc-parser";
import { Tabs } from "radix-ui";
import { Link, useNavigate, useParams } from "react-router";
import { ShareAsTemplate } from "./templates";
import { api, type ApiPath } from "../lib/api";
import { ApiError, describe, field, sentence } from "../lib/errors";
import { lineOf } from "../lib/jsonpath";
import { describeChanges, describeNotify, describeTrigger, NOTIFY_CHOICES, notifySettings, type Notify } from "../lib/workflow";
import { summarize } from "../builder/summary";
import type { Step } from "../builder/tree";
import { useMayEdit, useMayEditWorkflow } from "../shell";
import { Alert, Button, Choice, Confirm, CopyField, Field, StateBadge, Toggle } from "../ui";

const JsonEditor = lazy(() => import("../editor"));

type Summary = {
  id: string;
  name: string;
  version: number;
  active: boolean;
  updated_at: string;
  trigger?: Record<string, unknown>;
  runs_this_week?: number;
  success_rate?: number | null;
  last_run?: { at: string; state: string } | null;
};
type Stored = Summary & { definition: Record<string, unknown>; created_by?: string | null };

const link = "font-medium text-indigo-800 underline-offset-2 hover:underline";

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
            <li key={workflow.id} className="flex flex-wrap items-start justify-between gap-2 px-4 py-3">
              <div>
                <Link to={`/workflows/${workflow.id}`} className={link}>
                  {workflow.name}
                </Link>
                <p className="text-sm text-slate-700">{describeTrigger(workflow.trigger)}</p>
              </div>
              <div className="text-right text-sm text-slate-700">
                <p className={workflow.active ? "font-medium text-emerald-800" : "text-slate-600"}>
                  {workflow.active ? "On" : "Off"}
                </p>
                {workflow.last_run ? (
                  <p className="flex items-center justify-end gap-1">
                    Last run <StateBadge state={workflow.last_run.state} /> {new Date(workflow.last_run.at).toLocaleString()}
                  </p>
                ) : (
                  <p>Never run</p>
                )}
                {workflow.success_rate !== null && workflow.success_rate !== undefined && (
                  <p>
                    {workflow.success_rate}% succeeded of {workflow.runs_this_week} runs this week
                  </p>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** A problem of the text being edited, at its line when the text says where. */
type Problem = { line: number | null; where: string; message: string };

/** The problems of a save or a check: the API's JSON paths mapped to lines of `text`. */
function problemsOf(error: unknown, text: string): Problem[] {
  if (error instanceof JsonSyntax) return [error.problem];
  if (!(error instanceof ApiError) || error.details.length === 0) return [];
  return error.details.map((detail) => ({
    line: lineOf(text, detail.path),
    where: detail.path === "$" ? "The workflow" : field(detail.path),
    message: detail.message,
  }));
}

/** Text that is not JSON, with the line of the first mistake. */
class JsonSyntax extends Error {
  constructor(readonly problem: Problem) {
    super(problem.message);
  }
}

/** Parses the editor's text, or says at which line it stops being JSON. */
function parseDocument(text: string): unknown {
  const errors: ParseError[] = [];
  const value = parse(text, errors, { allowTrailingComma: false, disallowComments: true });
  if (errors.length > 0) {
    const line = text.slice(0, errors[0].offset).split("\n").length;
    throw new JsonSyntax({ line, where: "The text", message: "this is not valid JSON here (a missing comma, quote or bracket?)" });
  }
  return value;
}

/**
 * The JSON editor with its problems: "Check" asks the API without saving, "Save" stores. A
 * problem of either shows in a list and at its line in the editor.
 */
function WorkflowEditor(props: {
  initial: string;
  save: (document: unknown) => Promise<Stored>;
  saved: (stored: Stored) => void;
  saveLabel: string;
  withFile?: boolean;
}) {
  const [text, setText] = useState(props.initial);
  const [error, setError] = useState<unknown>(null);
  const [checked, setChecked] = useState(false);
  const save = useMutation({
    mutationFn: () => props.save(parseDocument(text)),
    onSuccess: (stored) => {
      setError(null);
      props.saved(stored);
    },
    onError: setError,
  });
  const check = useMutation({
    mutationFn: () => api("/api/v1/workflows/validate", { body: parseDocument(text) }),
    onSuccess: () => {
      setError(null);
      setChecked(true);
    },
    onError: (failure) => {
      setChecked(false);
      setError(failure);
    },
  });
  const problems = useMemo(() => problemsOf(error, text), [error, text]);
  const marks = useMemo(
    () => problems.filter((problem) => problem.line !== null).map((problem) => ({ line: problem.line!, message: `${problem.where}: ${problem.message}` })),
    [problems],
  );
  const edit = (value: string) => {
    setText(value);
    setChecked(false);
  };
  return (
    <div>
      {props.withFile && (
        <label className="mb-3 block text-sm font-medium text-slate-800">
          Open a file
          <input
            type="file"
            accept="application/json,.json"
            className="mt-1 block text-sm"
            onChange={async (event) => {
              const file = event.target.files?.[0];
              if (file) edit(await file.text());
            }}
          />
        </label>
      )}
      <p id="workflow-json-label" className="mb-1 text-sm font-medium text-slate-800">
        Workflow JSON
      </p>
      <div className="mb-3">
        <Suspense fallback={<p role="status">Loading the editor…</p>}>
          <JsonEditor value={text} onChange={edit} label="Workflow JSON" problems={marks} />
        </Suspense>
      </div>
      {error !== null && (
        <div role="alert" className="mb-3 rounded-md bg-red-50 p-3 text-sm text-red-800 ring-1 ring-red-200">
          <p className="font-medium">
            {error instanceof JsonSyntax
              ? "The text is not valid JSON."
              : error instanceof ApiError && problems.length > 0
                ? sentence(error.message || "the workflow has problems")
                : describe(error)}
          </p>
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
      {checked && <Alert tone="info">No problems found. Save it when you are ready.</Alert>}
      <div className="flex flex-wrap gap-2">
        <Button onClick={() => save.mutate()} disabled={save.isPending || text.trim() === ""}>
          {save.isPending ? "Saving…" : props.saveLabel}
        </Button>
        <Button tone="plain" onClick={() => check.mutate()} disabled={check.isPending || text.trim() === ""}>
          {check.isPending ? "Checking…" : "Check for problems"}
        </Button>
      </div>
    </div>
  );
}

/** A workflow to start from: started by hand, one step that says hello to its input. */
const BLANK = JSON.stringify(
  {
    id: "wf_my_workflow",
    name: "My workflow",
    trigger: { type: "manual" },
    steps: [{ id: "hello", type: "transformation", action: "template", inputs: { template: "Hello {{ trigger.name }}" } }],
  },
  null,
  2,
);

/** `Reply to support mail` → `wf_reply_to_support_mail`. */
export function keyOf(name: string): string {
  const words = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 60);
  return `wf_${words || "workflow"}`;
}

/** A named, empty workflow (started by hand) opened in the builder. */
function BuildByClicking() {
  const navigate = useNavigate();
  const queries = useQueryClient();
  const [name, setName] = useState("");
  const create = useMutation({
    mutationFn: () =>
      api<Stored>("/api/v1/workflows", { body: { id: keyOf(name), name: name.trim(), trigger: { type: "manual" }, steps: [] } }),
    onSuccess: async (stored) => {
      await queries.invalidateQueries({ queryKey: ["workflows"] });
      navigate(`/workflows/${stored.id}/build`);
    },
  });
  return (
    <form
      className="mb-6 rounded-lg bg-white p-4 ring-1 ring-slate-200"
      onSubmit={(event) => {
        event.preventDefault();
        create.mutate();
      }}
    >
      <h2 className="mb-2 text-lg font-semibold text-slate-900">Build it step by step</h2>
      <label className="mb-2 block text-sm font-medium text-slate-800">
        Its name
        <input
          value={name}
          onChange={(event) => setName(event.target.value)}
          required
          maxLength={200}
          placeholder="Reply to support mail"
          className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5"
        />
      </label>
      {create.isError && <Alert tone="error">{describe(create.error)}</Alert>}
      <Button type="submit" disabled={!name.trim() || create.isPending}>
        Open the builder
      </Button>
    </form>
  );
}

type Draft = {
  workflow: { id: string; name: string; trigger?: Record<string, unknown>; steps: Step[] };
  to_configure: { service: string; name: string; message: string }[];
  model: string;
  cost_usd: number;
};

/** Describe it in words: the organization's AI model proposes a workflow, to take into the builder or ask again. */
function DescribeIt() {
  const navigate = useNavigate();
  const queries = useQueryClient();
  const [description, setDescription] = useState("");
  const write = useMutation({
    mutationFn: () => api<Draft>("/api/v1/workflows/draft", { body: { description: description.trim() } }),
  });
  const use = useMutation({
    mutationFn: (draft: Draft) => api<Stored>("/api/v1/workflows", { body: draft.workflow }),
    onSuccess: async (stored) => {
      await queries.invalidateQueries({ queryKey: ["workflows"] });
      navigate(`/workflows/${stored.id}/build`);
    },
  });
  const draft = write.data;
  return (
    <section className="mb-6 rounded-lg bg-white p-4 ring-1 ring-slate-200" aria-label="Describe it">
      <h2 className="mb-2 text-lg font-semibold text-slate-900">Describe it, and AI writes it</h2>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          write.mutate();
        }}
      >
        <label className="mb-2 block text-sm font-medium text-slate-800">
          What should it do?
          <textarea
            value={description}
            onChange={(event) => setDescription(event.target.value)}
            rows={3}
            maxLength={4000}
            placeholder="When a support email arrives, draft a friendly reply with AI and save it as a Gmail draft"
            className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5"
          />
        </label>
        {write.isError && <Alert tone="error">{describe(write.error)}</Alert>}
        <Button type="submit" disabled={!description.trim() || write.isPending}>
          {write.isPending ? "Writing…" : draft ? "Write it again" : "Write it for me"}
        </Button>
      </form>
      {draft && (
        <div role="region" aria-label="Proposed workflow" className="mt-4 rounded-md border border-indigo-200 bg-indigo-50 p-3">
          <h3 className="font-semibold text-slate-900">{draft.workflow.name}</h3>
          <p className="mb-2 text-xs text-slate-700">{`Proposed by ${draft.model} for $${Number(draft.cost_usd).toFixed(4)}. Nothing is saved until you use it.`}</p>
          {draft.workflow.trigger && <p className="text-sm text-slate-800">{`Starts: ${describeTrigger(draft.workflow.trigger)}`}</p>}
          <ol className="mb-2 list-decimal pl-5 text-sm text-slate-800">
            {draft.workflow.steps.map((step) => (
              <li key={String(step.id)}>{summarize(step)}</li>
            ))}
          </ol>
          {draft.to_configure.length > 0 && (
            <div className="mb-2 text-sm">
              <p className="font-medium text-amber-900">Still to set up:</p>
              <ul className="list-disc pl-5 text-amber-900">
                {draft.to_configure.map((item) => (
                  <li key={item.service}>
                    {item.message} <Link to="/integrations" className={link}>Integrations</Link>
                  </li>
                ))}
              </ul>
            </div>
          )}
          {use.isError && <Alert tone="error">{describe(use.error)}</Alert>}
          <div className="flex flex-wrap gap-2">
            <Button onClick={() => use.mutate(draft)} disabled={use.isPending}>
              Use this draft
            </Button>
            <span className="self-center text-xs text-slate-700">Not right? Change the words above and write it again.</span>
          </div>
        </div>
      )}
    </section>
  );
}

export function NewWorkflow() {
  const navigate = useNavigate();
  const queries = useQueryClient();
  const [start, setStart] = useState({ text: "", key: 0 });
  return (
    <section>
      <h1 className="mb-2 text-2xl font-semibold text-slate-900">New workflow</h1>
      <DescribeIt />
      <BuildByClicking />
      <h2 className="mb-2 text-lg font-semibold text-slate-900">Or from its JSON</h2>
      <p className="mb-2 text-slate-700">Paste a workflow's JSON, open a .json file, or start from a blank one.</p>
      <div className="mb-4">
        <Button tone="plain" onClick={() => setStart({ text: BLANK, key: start.key + 1 })}>
          Start blank
        </Button>
      </div>
      <WorkflowEditor
        key={start.key}
        initial={start.text}
        withFile
        saveLabel="Save workflow"
        save={(document) => api<Stored>("/api/v1/workflows", { body: document })}
        saved={async (stored) => {
          await queries.invalidateQueries({ queryKey: ["workflows"] });
          navigate(`/workflows/${stored.id}`);
        }}
      />
    </section>
  );
}

function path(id: string, rest = ""): ApiPath {
  return `/api/v1/workflows/${encodeURIComponent(id)}${rest}`;
}

export function WorkflowPage() {
  const { id = "" } = useParams();
  const navigate = useNavigate();
  const queries = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [tab, setTab] = useState("overview");
  const workflow = useQuery({ queryKey: ["workflow", id], queryFn: () => api<Stored>(path(id)) });
  const mayEdit = useMayEditWorkflow(workflow.data?.created_by);
  const refresh = () => queries.invalidateQueries({ queryKey: ["workflow", id] });
  const toggle = useMutation({
    mutationFn: (on: boolean) => api(path(id, on ? "/activate" : "/deactivate"), { method: "POST" }),
    onSuccess: () => {
      setError(null);
      return refresh();
    },
    onError: (failure) => setError(describe(failure)),
  });
  const remove = useMutation({
    mutationFn: () => api(path(id), { method: "DELETE" }),
    onSuccess: async () => {
      await queries.invalidateQueries({ queryKey: ["workflows"] });
      navigate("/workflows", { replace: true });
    },
    onError: (failure) => setError(describe(failure)),
  });
  if (workflow.isPending) return <p role="status">Loading…</p>;
  if (workflow.isError) return <Alert tone="error">{describe(workflow.error)}</Alert>;
  const stored = workflow.data;
  const tabClass =
    "border-b-2 border-transparent px-3 py-2 text-sm font-medium text-slate-700 hover:text-slate-900 focus:outline-none focus:ring-2 focus:ring-indigo-600 data-[state=active]:border-indigo-700 data-[state=active]:text-indigo-800";
  return (
    <section>
      <div className="mb-4 flex flex-wrap items-start justify-between gap-3">
        <div>
          <h1 className="mb-1 text-2xl font-semibold text-slate-900">{stored.name}</h1>
          <p className="text-sm text-slate-700">
            Version {stored.version} · {stored.active ? "On: its trigger starts runs" : "Off: it runs only when started by hand"}
          </p>
        </div>
        <Link to={`/workflows/${encodeURIComponent(id)}/build`} className="rounded-md bg-indigo-700 px-3 py-2 text-sm font-medium text-white hover:bg-indigo-800 focus:outline-none focus:ring-2 focus:ring-indigo-600 focus:ring-offset-2">
          {mayEdit ? "Open the builder" : "See it drawn"}
        </Link>
        {mayEdit && (
          <div className="flex flex-wrap items-center gap-3">
            <Toggle label="Workflow" on={stored.active} onChange={(on) => toggle.mutate(on)} disabled={toggle.isPending} />
            <Confirm
              trigger="Delete"
              title={`Delete "${stored.name}"?`}
              body="Its trigger stops at once. Its past runs stay in Runs."
              confirm="Delete workflow"
              onConfirm={() => remove.mutate()}
              disabled={remove.isPending}
            />
          </div>
        )}
      </div>
      {error && <Alert tone="error">{error}</Alert>}
      {notice && <Alert tone="info">{notice}</Alert>}
      <Tabs.Root value={tab} onValueChange={setTab}>
        <Tabs.List aria-label="About this workflow" className="mb-4 flex flex-wrap gap-1 border-b border-slate-200">
          <Tabs.Trigger value="overview" className={tabClass}>
            Overview
          </Tabs.Trigger>
          <Tabs.Trigger value="edit" className={tabClass}>
            {mayEdit ? "Edit JSON" : "JSON"}
          </Tabs.Trigger>
          <Tabs.Trigger value="versions" className={tabClass}>
            Versions
          </Tabs.Trigger>
        </Tabs.List>
        <Tabs.Content value="overview" className="focus:outline-none">
          <TriggerPanel id={id} stored={stored} mayEdit={mayEdit} />
          {mayEdit && <RunNow id={id} />}
          <SettingsPanel
            key={stored.version}
            id={id}
            stored={stored}
            mayEdit={mayEdit}
            saved={(saved) => {
              setNotice(`Saved as version ${saved.version}.`);
              queries.setQueryData(["workflow", id], saved);
            }}
          />
          <p className="mb-4">
            <Link to={`/executions?workflow=${encodeURIComponent(id)}`} className={link}>
              See this workflow's runs
            </Link>
          </p>
          {mayEdit && <ShareAsTemplate workflowId={id} name={stored.name} />}
        </Tabs.Content>
        <Tabs.Content value="edit" className="focus:outline-none">
          {mayEdit ? (
            <WorkflowEditor
              key={stored.version}
              initial={JSON.stringify(stored.definition, null, 2)}
              saveLabel="Save as a new version"
              save={(document) => api<Stored>(path(id, `?base_version=${stored.version}`), { method: "PUT", body: document })}
              saved={(saved) => queries.setQueryData(["workflow", id], saved)}
            />
          ) : (
            <pre
              tabIndex={0}
              aria-label="The workflow's JSON"
              className="overflow-x-auto rounded-lg bg-slate-900 p-4 text-xs text-slate-100 focus:outline-none focus:ring-2 focus:ring-indigo-500"
            >
              {JSON.stringify(stored.definition, null, 2)}
            </pre>
          )}
        </Tabs.Content>
        <Tabs.Content value="versions" className="focus:outline-none">
          <Versions id={id} current={stored} mayEdit={mayEdit} restored={(saved) => queries.setQueryData(["workflow", id], saved)} />
        </Tabs.Content>
      </Tabs.Root>
    </section>
  );
}

const panel = "mb-6 rounded-lg bg-white p-4 ring-1 ring-slate-200";

/** What starts the workflow: its hook URL, its schedule's next runs, or its poll's state. */
function TriggerPanel({ id, stored, mayEdit }: { id: string; stored: Stored; mayEdit: boolean }) {
  const trigger = (stored.definition.trigger ?? { type: "manual" }) as { type?: string };
  const kind = trigger.type ?? "manual";
  return (
    <div className={panel}>
      <h2 className="mb-1 text-lg font-semibold text-slate-900">Trigger</h2>
      <p className="mb-3 text-slate-700">{describeTrigger(stored.definition.trigger)}</p>
      {kind === "webhook" && (mayEdit ? <HookPanel id={id} version={stored.version} /> : <p className="text-sm text-slate-700">An editor can show you its URL.</p>)}
      {kind === "schedule" && <SchedulePanel id={id} version={stored.version} active={stored.active} />}
      {kind === "poll" && <PollPanel id={id} mayEdit={mayEdit} />}
      {kind !== "manual" && !stored.active && (
        <p className="mt-2 text-sm text-amber-900">The workflow is off: turn it on for its trigger to start runs.</p>
      )}
    </div>
  );
}

type Hook = { url: string; signed: boolean; signature_scheme?: string; secret?: string };

/** The services whose own signing secret a hook checks, and where their users find it. */
const SIGNING_SERVICES: Record<string, { name: string; where: string }> = {
  stripe: { name: "Stripe", where: "In Stripe: Developers, Webhooks, this endpoint, Signing secret (whsec_…)." },
  svix: { name: "Resend", where: "In Resend: Webhooks, this endpoint, Signing secret (whsec_…)." },
  slack: { name: "Slack", where: "In your Slack app's settings: Basic Information, Signing Secret." },
  calendly: { name: "Calendly", where: "The signing key you gave when making the Calendly webhook subscription." },
  hubspot: { name: "HubSpot", where: "In HubSpot: your app (or private app), Auth, Client secret." },
};

function HookPanel({ id, version }: { id: string; version: number }) {
  const queries = useQueryClient();
  const key = ["workflow", id, "hook", version];
  const hook = useQuery({
    queryKey: key,
    queryFn: () => api<Hook>(path(id, "/hook"), { method: "POST" }),
  });
  const [made, setMade] = useState<string | null>(null);
  const [given, setGiven] = useState("");
  const [replacing, setReplacing] = useState(false);
  const secret = useMutation({
    mutationFn: (change: "make" | "set" | "remove") =>
      api<Hook>(path(id, "/hook/secret"), {
        method: change === "make" ? "POST" : change === "set" ? "PUT" : "DELETE",
        body: change === "set" ? { secret: given.trim() } : undefined,
      }),
    onSuccess: (answered) => {
      setMade(answered.secret ?? null);
      setGiven("");
      setReplacing(false);
      queries.setQueryData(key, { ...answered, secret: undefined });
    },
  });
  if (hook.isPending) return <p role="status">Loading the URL…</p>;
  if (hook.isError) return <Alert tone="error">{describe(hook.error)}</Alert>;
  const scheme = hook.data.signature_scheme ?? "standard_webhooks";
  const service = SIGNING_SERVICES[scheme];
  return (
    <>
      <CopyField label="Webhook URL" value={hook.data.url} />
      {secret.isError && <Alert tone="error">{describe(secret.error)}</Alert>}
      {scheme === "asana" ? (
        <>
          <p className="text-sm text-slate-700">
            {hook.data.signed
              ? "Asana's calls must be signed with the secret Asana and this workflow agreed on; others are refused."
              : "Asana agrees on a secret with this URL by itself: switch the workflow on, then run an Asana “watch project” step with this URL (Asana calls it at once)."}
          </p>
          {hook.data.signed && (
            <Button tone="plain" disabled={secret.isPending} onClick={() => secret.mutate("remove")}>
              Forget Asana's secret (to connect another Asana webhook)
            </Button>
          )}
        </>
      ) : service ? (
        <>
          <p className="text-sm text-slate-700">
            {hook.data.signed
              ? `Calls must be signed by ${service.name} with the signing secret you saved; others are refused.`
              : `${service.name}'s calls are refused until you save the signing secret ${service.name} shows for this URL.`}
          </p>
          {(!hook.data.signed || replacing) && (
            <form
              className="mt-2"
              onSubmit={(event) => {
                event.preventDefault();
                secret.mutate("set");
              }}
            >
              <Field
                label={`${service.name} signing secret`}
                name="signing_secret"
                type="password"
                autoComplete="off"
                value={given}
                onChange={setGiven}
                hint={service.where}
              />
              <Button type="submit" disabled={secret.isPending || given.trim() === ""}>
                {secret.isPending ? "Saving…" : "Save signing secret"}
              </Button>
            </form>
          )}
          {hook.data.signed && !replacing && (
            <Button tone="plain" onClick={() => setReplacing(true)}>
              Replace signing secret
            </Button>
          )}
        </>
      ) : (
        <>
          <p className="text-sm text-slate-700">
            {!hook.data.signed
              ? "Anyone with this URL can start the workflow: keep it private, or make a secret callers must prove they know."
              : scheme === "header_secret"
                ? "Calls must carry this workflow's secret in an X-Baton-Secret header (add it to the Zap's or Make module's headers); others are refused."
                : "Calls must be signed with this workflow's secret; unsigned ones are refused."}
          </p>
          {made && (
            <div className="mt-2">
              <CopyField label="Secret (shown once: copy it now)" value={made} />
            </div>
          )}
          <span className="mt-2 flex flex-wrap gap-2">
            <Button tone="plain" disabled={secret.isPending} onClick={() => secret.mutate("make")}>
              {hook.data.signed ? "Make a new secret" : "Make a secret"}
            </Button>
            {hook.data.signed && (
              <Button tone="plain" disabled={secret.isPending} onClick={() => { setMade(null); secret.mutate("remove"); }}>
                Remove the secret
              </Button>
            )}
          </span>
        </>
      )}
    </>
  );
}

function SchedulePanel({ id, version, active }: { id: string; version: number; active: boolean }) {
  const schedule = useQuery({
    queryKey: ["workflow", id, "schedule", version],
    queryFn: () => api<{ cron: string; timezone: string; next_runs: string[]; missed: string }>(path(id, "/schedule")),
  });
  if (schedule.isPending) return <p role="status">Loading the schedule…</p>;
  if (schedule.isError) return <Alert tone="error">{describe(schedule.error)}</Alert>;
  return (
    <div>
      <p className="mb-1 text-sm font-medium text-slate-800">
        {active ? "Next runs" : "It would next run"} (your time):
      </p>
      <ul className="list-disc pl-5 text-sm text-slate-800">
        {schedule.data.next_runs.map((time) => (
          <li key={time}>{new Date(time).toLocaleString()}</li>
        ))}
      </ul>
      <p className="mt-2 text-sm text-slate-700">
        Times missed while Baton was stopped are {schedule.data.missed === "run_once" ? "made up with one run" : "skipped"}.
      </p>
    </div>
  );
}

function PollPanel({ id, mayEdit }: { id: string; mayEdit: boolean }) {
  const queries = useQueryClient();
  const poll = useQuery({
    queryKey: ["workflow", id, "poll"],
    queryFn: () =>
      api<{ every_seconds: number; looked_at: string | null; next_look_at: string | null; error: string | null }>(path(id, "/poll")),
  });
  const now = useMutation({
    mutationFn: () => api(path(id, "/poll"), { method: "POST" }),
    onSuccess: () => setTimeout(() => queries.invalidateQueries({ queryKey: ["workflow", id, "poll"] }), 2500),
  });
  if (poll.isPending) return <p role="status">Loading…</p>;
  if (poll.isError) return <Alert tone="error">{describe(poll.error)}</Alert>;
  const when = (time: string | null) => (time ? new Date(time).toLocaleString() : "not yet");
  return (
    <div className="text-sm text-slate-800">
      <p>Looks every {poll.data.every_seconds} seconds.</p>
      <p>Last looked: {when(poll.data.looked_at)}. Next look: {when(poll.data.next_look_at)}.</p>
      {poll.data.error && <Alert tone="error">{`The last look failed: ${poll.data.error}`}</Alert>}
      {now.isError && <Alert tone="error">{describe(now.error)}</Alert>}
      {mayEdit && (
        <div className="mt-2">
          <Button tone="plain" onClick={() => now.mutate()} disabled={now.isPending}>
            {now.isSuccess ? "Looking now…" : "Look now"}
          </Button>
        </div>
      )}
    </div>
  );
}

function RunNow({ id }: { id: string }) {
  const navigate = useNavigate();
  const [input, setInput] = useState("{}");
  const run = useMutation({
    mutationFn: async () => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(input || "{}");
      } catch {
        throw new ApiError(422, "invalid", "The input is not JSON: write it as {\"field\": \"value\"}");
      }
      return api<{ id: string }>(path(id, "/runs"), { body: { input: parsed } });
    },
    onSuccess: (execution) => navigate(`/executions/${execution.id}`),
  });
  return (
    <div className={panel}>
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
      {run.isError && <Alert tone="error">{describe(run.error)}</Alert>}
      <Button onClick={() => run.mutate()} disabled={run.isPending}>
        {run.isPending ? "Starting…" : "Run now"}
      </Button>
    </div>
  );
}

type Version = { version: number; created_at: string; current: boolean; note?: string | null };

/** The versions, newest first; any two compared in words; an older one restored as the newest. */
function Versions(props: { id: string; current: Stored; mayEdit: boolean; restored: (saved: Stored) => void }) {
  const versions = useQuery({
    queryKey: ["workflow", props.id, "versions", props.current.version],
    queryFn: () => api<{ items: Version[] }>(path(props.id, "/versions?limit=100")),
  });
  const [from, setFrom] = useState<number | null>(null);
  const to = props.current.version;
  const older = from ?? (to > 1 ? to - 1 : null);
  const restore = useMutation({
    mutationFn: (version: number) => api<Stored>(path(props.id, `/versions/${version}/restore`), { method: "POST" }),
    onSuccess: props.restored,
  });
  if (versions.isPending) return <p role="status">Loading versions…</p>;
  if (versions.isError) return <Alert tone="error">{describe(versions.error)}</Alert>;
  return (
    <div>
      {restore.isError && <Alert tone="error">{describe(restore.error)}</Alert>}
      {restore.isSuccess && <Alert tone="info">{`Restored: it is now version ${restore.data.version}.`}</Alert>}
      <ul className="mb-6 divide-y divide-slate-200 rounded-lg bg-white ring-1 ring-slate-200">
        {versions.data.items.map((version) => (
          <li key={version.version} className="flex flex-wrap items-center justify-between gap-2 px-4 py-2">
            <span className="text-sm text-slate-800">
              <span className="font-semibold">Version {version.version}</span>
              {version.current && " (current)"} · saved {new Date(version.created_at).toLocaleString()}
              {version.note && <span className="block text-slate-700">“{version.note}”</span>}
            </span>
            {props.mayEdit && !version.current && (
              <Confirm
                tone="primary"
                trigger={`Restore version ${version.version}`}
                title={`Restore version ${version.version}?`}
                body="Its definition is saved as a new version; nothing is lost, and you can go back again."
                confirm="Restore"
                onConfirm={() => restore.mutate(version.version)}
              />
            )}
          </li>
        ))}
      </ul>
      {older !== null && (
        <Compare id={props.id} versions={versions.data.items} from={older} to={to} choose={setFrom} />
      )}
    </div>
  );
}

function Compare(props: { id: string; versions: Version[]; from: number; to: number; choose: (version: number) => void }) {
  const load = (version: number) => ({
    queryKey: ["workflow", props.id, "version", version],
    queryFn: () => api<{ definition: unknown }>(path(props.id, `/versions/${version}`)),
    staleTime: Infinity,
  });
  const before = useQuery(load(props.from));
  const after = useQuery(load(props.to));
  const changes = before.data && after.data ? describeChanges(before.data.definition, after.data.definition) : null;
  return (
    <div className={panel}>
      <h2 className="mb-2 text-lg font-semibold text-slate-900">What changed</h2>
      <label className="mb-3 block text-sm font-medium text-slate-800">
        From version{" "}
        <select
          value={props.from}
          onChange={(event) => props.choose(Number(event.target.value))}
          className="rounded-md border border-slate-300 px-2 py-1"
        >
          {props.versions
            .filter((version) => version.version !== props.to)
            .map((version) => (
              <option key={version.version} value={version.version}>
                {version.version}
              </option>
            ))}
        </select>{" "}
        to the current version {props.to}
      </label>
      {(before.isError || after.isError) && <Alert tone="error">{describe(before.error ?? after.error)}</Alert>}
      {changes === null && !before.isError && !after.isError && <p role="status">Comparing…</p>}
      {changes?.length === 0 && <p className="text-slate-700">The two versions are the same.</p>}
      {changes && changes.length > 0 && (
        <ul aria-label="Changes" className="list-disc space-y-1 pl-5 text-sm text-slate-800">
          {changes.map((change, index) => (
            <li key={index}>{change}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The workflow's own settings (name, description, time limit, runs at once, who is told of failures), saved as a new version. */
function SettingsPanel(props: { id: string; stored: Stored; mayEdit: boolean; saved: (saved: Stored) => void }) {
  const definition = props.stored.definition as Record<string, unknown>;
  const text = (key: string) => (definition[key] === undefined || definition[key] === null ? "" : String(definition[key]));
  const [name, setName] = useState(text("name"));
  const [description, setDescription] = useState(text("description"));
  const [timeLimit, setTimeLimit] = useState(text("timeout"));
  const [concurrency, setConcurrency] = useState(text("concurrency"));
  const notify = (definition.notify ?? {}) as Notify;
  const [notifyWhen, setNotifyWhen] = useState(notify.when ?? "immediately");
  const [notifyEmails, setNotifyEmails] = useState((notify.emails ?? []).join(", "));
  const [slackChannel, setSlackChannel] = useState(notify.slack_channel ?? "");
  const [slackCredential, setSlackCredential] = useState(notify.slack_credential ?? "");
  const save = useMutation({
    mutationFn: () => {
      const next: Record<string, unknown> = { ...definition, name: name.trim() };
      const optional = (key: string, value: unknown) => {
        if (value === "" || value === null) delete next[key];
        else next[key] = value;
      };
      optional("description", description.trim());
      optional("timeout", timeLimit.trim());
      optional("concurrency", concurrency.trim() === "" ? "" : Number(concurrency));
      optional("notify", notifySettings(notifyWhen, notifyEmails, slackChannel, slackCredential));
      return api<Stored>(path(props.id, `?base_version=${props.stored.version}`), { method: "PUT", body: next });
    },
    onSuccess: props.saved,
  });
  if (!props.mayEdit) {
    return (
      <div className={panel}>
        <h2 className="mb-2 text-lg font-semibold text-slate-900">Settings</h2>
        <p className="text-sm text-slate-800">{text("description") || "No description."}</p>
        <p className="text-sm text-slate-800">
          {text("timeout") ? `A run may take ${text("timeout")} at most.` : "A run has no time limit of its own."}{" "}
          {text("concurrency") ? `At most ${text("concurrency")} runs at once.` : "Any number of runs at once."}
        </p>
        <p className="text-sm text-slate-800">{describeNotify(notify)}</p>
      </div>
    );
  }
  return (
    <form
      className={panel}
      onSubmit={(event) => {
        event.preventDefault();
        save.mutate();
      }}
    >
      <h2 className="mb-3 text-lg font-semibold text-slate-900">Settings</h2>
      <Field label="Name" name="workflow-name" value={name} onChange={setName} />
      <Field label="Description" name="workflow-description" required={false} value={description} onChange={setDescription} />
      <Field
        label="Time limit for a run"
        name="workflow-timeout"
        required={false}
        value={timeLimit}
        onChange={setTimeLimit}
        hint="e.g. 30s, 10m or 2h. Empty: no limit of its own."
      />
      <Field
        label="Runs at once"
        name="workflow-concurrency"
        type="number"
        required={false}
        value={concurrency}
        onChange={setConcurrency}
        hint="More wait their turn. Empty: no limit."
      />
      <fieldset className="mb-2 rounded-md border border-slate-200 p-3">
        <legend className="px-1 text-sm font-semibold text-slate-900">When a run fails or waits for approval</legend>
        <Choice
          label="Tell people"
          name="notify-when"
          value={notifyWhen}
          onChange={setNotifyWhen}
          options={NOTIFY_CHOICES}
          hint="At once: the first failure right away, then at most one message an hour while it keeps failing. The workflow's owner is told too, unless their own setting says otherwise."
        />
        <Field
          label="Also e-mail"
          name="notify-emails"
          required={false}
          value={notifyEmails}
          onChange={setNotifyEmails}
          hint="Addresses separated by commas, e.g. ops@example.com."
        />
        <Field
          label="Post in Slack channel"
          name="notify-slack-channel"
          required={false}
          value={slackChannel}
          onChange={setSlackChannel}
          hint="e.g. #ops, with your Slack connection (under Integrations)."
        />
        {slackChannel.trim() !== "" && (
          <Field
            label="Slack connection name"
            name="notify-slack-credential"
            required={false}
            value={slackCredential}
            onChange={setSlackCredential}
            hint="Empty: your first Slack connection."
          />
        )}
      </fieldset>
      {save.isError && <Alert tone="error">{describe(save.error)}</Alert>}
      <Button type="submit" disabled={save.isPending}>
        Save settings
      </Button>
    </form>
  );
}
