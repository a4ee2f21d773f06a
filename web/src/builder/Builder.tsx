// The visual builder: the workflow drawn as its tree (React Flow only as the viewport), an
// outline of the same tree, "+" on every edge and in empty branches, a step panel, undo/redo,
// save as a new version, and a test run whose steps light up live.
import { lazy, memo, Suspense, useCallback, useEffect, useId, useMemo, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import {
  BaseEdge,
  Background,
  Controls,
  EdgeLabelRenderer,
  getSmoothStepPath,
  Handle,
  MiniMap,
  Position,
  ReactFlow,
  type EdgeProps,
  type NodeProps,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { Link, useParams, useSearchParams } from "react-router";
import { api, type ApiPath } from "../lib/api";
import { ApiError, describe } from "../lib/errors";
import { whatToTry } from "../lib/timeline";
import { useMayEditWorkflow } from "../shell";
import { Alert, Button, StateBadge, buttonClass } from "../ui";
import { ANSWER_KINDS, answerFields, available, fieldsOf, outputsOf, problemsByStep, TRANSFORMATIONS, withAnswerField, withoutAnswerField, withoutTool, withSamples, withTool, type AgentTool, type AnswerKind, type Field } from "./form";
import { layout, type Edge as LaidEdge, type Placed } from "./layout";
import { StepTest, testable, useLastRun } from "./StepTest";
import type { Offered } from "./TemplateField";
import { loopCounts, measures, ownId, stepViews, type RunStep, type StepView } from "./runview";
import { kindOf, summarize } from "./summary";
import { find, freeId, insert, move, pasted, remove, replaceStep, walk, type ListPath, type Step, type Workflow } from "./tree";

const JsonEditor = lazy(() => import("../editor"));
const TemplateField = lazy(() => import("./TemplateField"));

type Stored = { id: string; name: string; version: number; created_by?: string | null; definition: Workflow };
type Connector = {
  id: string;
  name: string;
  actions?: { id: string; description: string; example?: Record<string, unknown>; input_schema?: object; output_schema?: { properties?: Record<string, unknown> } }[];
};
type Target = { list: ListPath; index: number };

/** Whether a key or clipboard event belongs to a field being typed in, not to the canvas. */
const isTyping = (target: EventTarget | null) => target instanceof Element && !!target.closest("input, textarea, [contenteditable=true]");

/** Undo and redo over whole documents: every edit keeps the one before. */
export function useHistory<T>(initial: T) {
  const [state, setState] = useState({ past: [] as T[], present: initial, future: [] as T[] });
  // The changes only ever go through `setState`, so they stay the same functions for good.
  const changes = useMemo(
    () => ({
      edit: (next: T) => setState((now) => ({ past: [...now.past, now.present], present: next, future: [] })),
      undo: () =>
        setState((now) =>
          now.past.length ? { past: now.past.slice(0, -1), present: now.past[now.past.length - 1], future: [now.present, ...now.future] } : now,
        ),
      redo: () =>
        setState((now) => (now.future.length ? { past: [...now.past, now.present], present: now.future[0], future: now.future.slice(1) } : now)),
    }),
    [],
  );
  return { present: state.present, canUndo: state.past.length > 0, canRedo: state.future.length > 0, ...changes };
}

/** The steps to add, by group, each a function making it with a free id. */
function choices(connectors: Connector[]) {
  const base: { group: string; label: string; make: (id: (base: string) => string) => Step }[] = [
    { group: "AI", label: "Ask an AI model", make: (id) => ({ id: id("ask_ai"), type: "llm", provider: "openai", model: "gpt-4o-mini", prompt: "Summarise {{ trigger }}" }) },
    {
      group: "AI",
      label: "AI agent with tools",
      make: (id) => ({ id: id("agent"), type: "agent", provider: "openai", model: "gpt-4o-mini", prompt: "Look into {{ trigger }} and act on it", tools: [] }),
    },
    ...Object.entries(TRANSFORMATIONS).map(([action, kind]) => ({
      group: "Data",
      label: kind.label,
      make: (id: (base: string) => string): Step => ({ id: id(action === "template" ? "write" : action), type: "transformation", action, inputs: { ...kind.start } }),
    })),
    { group: "Logic", label: "If / else", make: (id) => ({ id: id("check"), type: "conditional", condition: "true", then: [], else: [] }) },
    { group: "Logic", label: "For each item", make: (id) => ({ id: id("each"), type: "loop", items: "trigger.items", steps: [] }) },
    { group: "People", label: "Ask a person to approve", make: (id) => ({ id: id("approve"), type: "approval", message: "Go ahead?" }) },
    { group: "People", label: "Wait", make: (id) => ({ id: id("wait"), type: "delay", duration: "1m" }) },
  ];
  for (const connector of connectors) {
    for (const action of connector.actions ?? []) {
      base.push({
        group: connector.name,
        label: action.description || action.id.replaceAll("_", " "),
        make: (id) => ({ id: id(action.id), type: "integration", service: connector.id, action: action.id, inputs: action.example ?? {} }),
      });
    }
  }
  return base;
}

const COLOURS: Record<string, string> = {
  COMPLETED: "border-emerald-600 bg-emerald-50",
  FAILED: "border-red-600 bg-red-50",
  RUNNING: "border-sky-600 bg-sky-50",
  WAITING: "border-amber-600 bg-amber-50",
  PENDING: "border-slate-400 bg-white",
  SKIPPED: "border-slate-300 bg-slate-50",
};

type StepData = {
  step: Step;
  view?: StepView;
  /** A loop's items in the run shown: how many, the one shown, and how to show another. */
  items?: { count: number; shown: number; show: (index: number) => void };
  /** Whether the card can be dragged to a "+" to move the step. */
  movable: boolean;
  problems?: string[];
  selected: boolean;
  container: boolean;
  select: (id: string) => void;
  toggle: (id: string) => void;
  collapsed: boolean;
};

/** The badge of a step's card: what kind of thing it does, waits shown apart. */
function badgeOf(step: Step): string {
  if (step.type === "approval") return "person";
  if (step.type === "delay") return "wait";
  if (step.type === "sub_workflow") return "workflow";
  return kindOf(step);
}

const StepNode = memo(function StepNode({ data }: NodeProps) {
  const { step, view, items, movable, problems, selected, container, select, toggle, collapsed } = data as unknown as StepData;
  const state = view?.state;
  const colour = state ? COLOURS[state] ?? "border-slate-300 bg-white" : "border-slate-300 bg-white";
  const took = measures(view);
  return (
    <div
      className={`relative h-full w-full rounded-lg border-2 ${colour} ${selected ? "ring-2 ring-indigo-600" : ""} ${container ? "bg-slate-50/60" : ""} ${movable ? "nopan nodrag cursor-grab" : ""}`}
      aria-label={`Step ${step.id}`}
      draggable={movable}
      onDragStart={(event) => {
        event.dataTransfer.setData(DRAGGED, step.id);
        event.dataTransfer.effectAllowed = "move";
      }}
    >
      <Handle type="target" position={Position.Top} className="!opacity-0" isConnectable={false} />
      <button type="button" onClick={() => select(step.id)} className="block w-full px-3 py-2 text-left focus:outline-none focus:ring-2 focus:ring-indigo-600">
        <span className="flex items-center justify-between gap-2">
          <span className="truncate font-mono text-xs font-semibold text-slate-900">{step.id}</span>
          <span className="flex shrink-0 items-center gap-1">
            {/* On the first line, so that a two-line summary still fits the card. */}
            {state && <StateBadge state={state} />}
            <span className={`rounded px-1.5 text-[10px] uppercase ${step.type === "approval" || step.type === "delay" ? "bg-amber-100 text-amber-900" : "bg-slate-100 text-slate-700"}`}>
              {badgeOf(step)}
            </span>
          </span>
        </span>
        <span className={`mt-1 block text-xs text-slate-800 ${took ? "line-clamp-1" : "line-clamp-2"}`}>{summarize(step)}</span>
        {took && <span className="mt-0.5 block text-[11px] text-slate-700">{took}</span>}
        {problems && problems.length > 0 && (
          <span className="mt-1 block text-xs font-medium text-red-800">
            {problems.length === 1 ? "1 problem" : `${problems.length} problems`}
          </span>
        )}
      </button>
      {items && items.count > 0 && (
        <span className="absolute -top-3 left-2 flex items-center gap-1 rounded border border-slate-300 bg-white px-1 text-xs text-slate-800">
          <button type="button" onClick={() => items.show(items.shown - 1)} disabled={items.shown === 0} aria-label={`Item before, in ${step.id}`} className="px-1 disabled:opacity-40">
            ‹
          </button>
          <span aria-live="polite">{`item ${items.shown + 1} of ${items.count}`}</span>
          <button type="button" onClick={() => items.show(items.shown + 1)} disabled={items.shown + 1 >= items.count} aria-label={`Item after, in ${step.id}`} className="px-1 disabled:opacity-40">
            ›
          </button>
        </span>
      )}
      {step.type === "sub_workflow" && typeof step.workflow === "string" && (
        <a href={`/workflows/${encodeURIComponent(step.workflow)}/build`} className="absolute bottom-1 right-2 text-xs text-indigo-800 underline">
          Open it
        </a>
      )}
      {(container || step.type === "conditional" || step.type === "parallel") && (
        <button
          type="button"
          onClick={() => toggle(step.id)}
          className="absolute -top-3 right-2 rounded border border-slate-300 bg-white px-1.5 text-xs text-slate-800"
          aria-label={`${collapsed ? "Open" : "Close"} ${step.id}`}
        >
          {collapsed ? "Open" : "Close"}
        </button>
      )}
      <Handle type="source" position={Position.Bottom} className="!opacity-0" isConnectable={false} />
    </div>
  );
});

const JoinNode = memo(function JoinNode() {
  return (
    <div className="h-4 w-4 rounded-full bg-slate-400">
      <Handle type="target" position={Position.Top} className="!opacity-0" isConnectable={false} />
      <Handle type="source" position={Position.Bottom} className="!opacity-0" isConnectable={false} />
    </div>
  );
});

/** What a dragged step card carries: its id. */
const DRAGGED = "application/x-baton-step";

/** Where a dragged step may be dropped: it moves there. */
function dropZone(drop?: (id: string) => void) {
  if (!drop) return {};
  return {
    onDragOver: (event: React.DragEvent) => {
      if (event.dataTransfer.types.includes(DRAGGED)) {
        event.preventDefault();
        event.dataTransfer.dropEffect = "move";
      }
    },
    onDrop: (event: React.DragEvent) => {
      const id = event.dataTransfer.getData(DRAGGED);
      if (!id) return;
      event.preventDefault();
      drop(id);
    },
  };
}

type EmptyData = { label: string; add: () => void; editable: boolean; drop?: (id: string) => void };

const EmptyNode = memo(function EmptyNode({ data }: NodeProps) {
  const { label, add, editable, drop } = data as unknown as EmptyData;
  return (
    <div className="nopan h-full w-full" {...dropZone(drop)}>
      <Handle type="target" position={Position.Top} className="!opacity-0" isConnectable={false} />
      {editable ? (
        <button type="button" onClick={add} className="h-full w-full rounded-md border-2 border-dashed border-slate-400 bg-white text-xs font-medium text-slate-800 hover:border-indigo-600">
          + {label}
        </button>
      ) : (
        <div className="h-full w-full rounded-md border-2 border-dashed border-slate-300" />
      )}
      <Handle type="source" position={Position.Bottom} className="!opacity-0" isConnectable={false} />
    </div>
  );
});

type PlusData = { add?: () => void; label?: string; drop?: (id: string) => void };

function PlusEdge(props: EdgeProps) {
  const [path, x, y] = getSmoothStepPath({ ...props, borderRadius: 8 });
  const data = (props.data ?? {}) as PlusData;
  return (
    <>
      <BaseEdge path={path} style={{ stroke: "#64748b" }} />
      <EdgeLabelRenderer>
        <div
          style={{ position: "absolute", transform: `translate(-50%, -50%) translate(${x}px, ${y}px)`, pointerEvents: "all" }}
          className="nopan flex items-center gap-1"
          {...dropZone(data.drop)}
        >
          {data.label && <span className="rounded bg-white px-1 text-[10px] text-slate-700">{data.label}</span>}
          {data.add && (
            <button type="button" onClick={data.add} aria-label="Add a step here" className="h-6 w-6 rounded-full border border-slate-400 bg-white text-sm leading-none text-slate-800 hover:border-indigo-600 hover:text-indigo-700">
              +
            </button>
          )}
        </div>
      </EdgeLabelRenderer>
    </>
  );
}

const nodeTypes = { step: StepNode, join: JoinNode, empty: EmptyNode };
const edgeTypes = { plus: PlusEdge };

export default function Builder() {
  const { id = "" } = useParams();
  const path = (rest = ""): ApiPath => `/api/v1/workflows/${encodeURIComponent(id)}${rest}`;
  const stored = useQuery({ queryKey: ["workflow", id], queryFn: () => api<Stored>(path()) });
  // What the trigger gives a test run: kept across saves (each saved version redraws the canvas).
  const [sample, setSample] = useState("{}");
  if (stored.isPending) return <p role="status">Loading…</p>;
  if (stored.isError) return <Alert tone="error">{describe(stored.error)}</Alert>;
  return <Canvas key={stored.data.version} stored={stored.data} path={path} sample={sample} setSample={setSample} />;
}

type Run = {
  id: string;
  state: string;
  workflow_version: number;
  error: { message?: string; step?: string; class?: string } | null;
  steps: (RunStep & { error: { message?: string; class?: string } | null })[];
};


function Canvas({
  stored,
  path,
  sample,
  setSample,
}: {
  stored: Stored;
  path: (rest?: string) => ApiPath;
  sample: string;
  setSample: (sample: string) => void;
}) {
  const queries = useQueryClient();
  const [params, setParams] = useSearchParams();
  const fixing = params.get("execution");
  const editable = useMayEditWorkflow(stored.created_by);
  const history = useHistory<Workflow>(stored.definition);
  const workflow = history.present;
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const [selected, setSelected] = useState<string | null>(null);
  const [adding, setAdding] = useState<Target | null>(null);
  const [view, setView] = useState<"canvas" | "outline" | "json">(() => (window.innerWidth < 640 ? "outline" : "canvas"));
  const [help, setHelp] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [runId, setRunId] = useState<string | null>(fixing);
  const run = useQuery({
    queryKey: ["execution", runId],
    queryFn: () => api<Run>(`/api/v1/executions/${runId}`),
    enabled: runId !== null,
    // Until it ends the live events say what changes; read again now and then as well, so a
    // missed event (a dropped connection) never leaves the canvas behind.
    refetchInterval: (query) => (query.state.data && ["COMPLETED", "FAILED", "CANCELLED"].includes(query.state.data.state) ? false : 3000),
  });
  const [live, setLive] = useState<Record<string, string>>({});
  // The item of each loop looked at; the latest unless chosen.
  const [shownItems, setShownItems] = useState<Record<string, number>>({});
  const counts = useMemo(() => loopCounts(run.data?.steps ?? []), [run.data]);
  const finished = run.data !== undefined && ["COMPLETED", "FAILED", "CANCELLED"].includes(run.data.state);
  const views = useMemo(() => {
    const stored = stepViews(run.data?.steps ?? [], shownItems);
    if (finished) return stored;
    // While it runs, the live events say more than the run as last read.
    const merged = { ...stored };
    for (const [id, state] of Object.entries(live)) merged[id] = { ...merged[id], state };
    return merged;
  }, [run.data, shownItems, live, finished]);
  const states = useMemo(() => Object.fromEntries(Object.entries(views).map(([id, view]) => [id, view.state])), [views]);
  const failedAt = run.data?.state === "FAILED" ? ownId(run.data.error?.step ?? run.data.steps.find((step) => step.state === "FAILED")?.id ?? "") : null;
  const resume = useMutation({
    mutationFn: () =>
      api<Run>(`/api/v1/executions/${runId}/retry`, { body: { version: "latest", ...(failedAt ? { from_step: failedAt } : {}) } }),
    onSuccess: () => {
      setLive({});
      setStreamKey((key) => key + 1);
      void queries.invalidateQueries({ queryKey: ["execution", runId] });
    },
  });
  const [streamKey, setStreamKey] = useState(0);
  const changed = JSON.stringify(workflow) !== JSON.stringify(stored.definition);
  const connectors = useQuery({ queryKey: ["connectors"], queryFn: () => api<{ items: Connector[] }>("/api/v1/connectors") });
  // Problems shown on the cards as the workflow is built: checked by the API a moment after
  // each change, without saving.
  const [problems, setProblems] = useState<Record<string, string[]>>({});
  useEffect(() => {
    const timer = window.setTimeout(() => {
      api("/api/v1/workflows/validate", { body: workflow })
        .then(() => setProblems({}))
        .catch((failure) => {
          if (failure instanceof ApiError && failure.details.length > 0) setProblems(problemsByStep(workflow, failure.details));
        });
    }, 500);
    return () => window.clearTimeout(timer);
  }, [workflow]);

  const edit = useCallback(
    (change: (current: Workflow) => Workflow) => {
      try {
        history.edit(change(workflow));
        setProblem(null);
      } catch (failure) {
        setProblem((failure as Error).message);
      }
    },
    [history.edit, workflow],
  );

  // The unsaved changes are kept in this browser as they are made, for the version they
  // started from: a closed tab or a crash loses nothing.
  const draftKey = `baton:draft:${stored.id}:${stored.version}`;
  const [draft, setDraft] = useState<Workflow | null>(() => {
    try {
      const kept = localStorage.getItem(draftKey);
      return kept ? (JSON.parse(kept) as Workflow) : null;
    } catch {
      return null;
    }
  });
  useEffect(() => {
    if (draft) return; // not before the person chose what to do with the one kept
    if (changed) localStorage.setItem(draftKey, JSON.stringify(workflow));
    else localStorage.removeItem(draftKey);
  }, [workflow, changed, draftKey, draft]);

  // Copy a step (as DSL JSON, so it pastes into another workflow or a message) and paste
  // steps after the one chosen, or at the end.
  useEffect(() => {
    const copy = (event: ClipboardEvent) => {
      if (isTyping(event.target) || !selected) return;
      const step = find(workflow, selected)?.step;
      if (!step) return;
      event.clipboardData?.setData("text/plain", JSON.stringify(step, null, 2));
      event.preventDefault();
    };
    const paste = (event: ClipboardEvent) => {
      if (isTyping(event.target) || !editable) return;
      const text = event.clipboardData?.getData("text/plain");
      if (!text) return;
      event.preventDefault();
      try {
        const steps = pasted(workflow, text);
        const after = selected ? find(workflow, selected) : undefined;
        const list = after?.list ?? { parent: null, field: "steps" as const };
        const index = after ? after.index + 1 : (workflow.steps ?? []).length;
        edit((current) => steps.reduceRight((document, step) => insert(document, list, index, step), current));
        setSelected(steps[0].id);
      } catch (failure) {
        setProblem(`Nothing was pasted: ${(failure as Error).message}`);
      }
    };
    window.addEventListener("copy", copy);
    window.addEventListener("paste", paste);
    return () => {
      window.removeEventListener("copy", copy);
      window.removeEventListener("paste", paste);
    };
  }, [workflow, selected, editable, edit]);

  useEffect(() => {
    const keys = (event: KeyboardEvent) => {
      const typing = isTyping(event.target);
      if (!typing && selected && editable && (event.key === "Delete" || event.key === "Backspace")) {
        edit((current) => remove(current, selected));
        setSelected(null);
        return;
      }
      if (!typing && event.key === "?") {
        setHelp((open) => !open);
        return;
      }
      if (typing || !(event.ctrlKey || event.metaKey) || event.key.toLowerCase() !== "z") return;
      event.preventDefault();
      if (event.shiftKey) history.redo();
      else history.undo();
    };
    window.addEventListener("keydown", keys);
    return () => window.removeEventListener("keydown", keys);
  }, [history.undo, history.redo, selected, editable, edit]);

  const [note, setNote] = useState("");
  const save = useMutation({
    mutationFn: () =>
      api<Stored>(path(`?base_version=${stored.version}${note.trim() ? `&note=${encodeURIComponent(note.trim())}` : ""}`), { method: "PUT", body: workflow }),
    onSuccess: (saved) => {
      localStorage.removeItem(`baton:draft:${stored.id}:${stored.version}`);
      queries.setQueryData(["workflow", stored.id], saved);
    },
  });

  const test = useMutation({
    mutationFn: () => {
      let input: unknown;
      try {
        input = JSON.parse(sample || "{}");
      } catch {
        throw new ApiError(422, "invalid", 'The test input is not JSON: write it as {"field": "value"}');
      }
      return api<{ id: string }>(path("/runs"), { body: { input } });
    },
    onSuccess: (started) => {
      setLive({});
      setRunId(started.id);
      // In the address, so that the run stays on the canvas when the workflow is saved (a
      // failed test run is then fixed and resumed) or the page reloaded.
      setParams({ execution: started.id }, { replace: true });
    },
  });
  useEffect(() => {
    if (!runId) return;
    const events = new EventSource(`/api/v1/executions/${runId}/events`);
    events.addEventListener("step", (event) => {
      const step = JSON.parse((event as MessageEvent).data) as { id: string; state: string };
      // `each[3].send` lights up `send` (with the latest item's state).
      setLive((now) => ({ ...now, [ownId(step.id)]: step.state }));
    });
    events.addEventListener("done", (event) => {
      events.close();
      // The end carries the whole run when the server has it at hand.
      const whole = JSON.parse((event as MessageEvent).data || "{}") as Partial<Run>;
      if (whole.steps && whole.state) queries.setQueryData(["execution", runId], whole);
      else void queries.invalidateQueries({ queryKey: ["execution", runId] });
    });
    return () => events.close();
  }, [runId, streamKey, queries]);

  const laid = useMemo(() => layout(workflow.steps ?? [], collapsed), [workflow, collapsed]);
  // A step card dropped on a "+" or an empty branch moves there (undoable like any edit).
  const moveTo = useCallback((target: Target) => (id: string) => edit((current) => move(current, id, target.list, target.index)), [edit]);
  const toggle = useCallback(
    (step: string) =>
      setCollapsed((now) => {
        const next = new Set(now);
        if (next.has(step)) next.delete(step);
        else next.add(step);
        return next;
      }),
    [],
  );
  const nodes = useMemo(
    () =>
      laid.nodes.map((node: Placed) => ({
        id: node.id,
        type: node.kind,
        position: { x: node.x, y: node.y },
        width: node.width,
        height: node.height,
        draggable: false,
        connectable: false,
        zIndex: node.kind === "step" && node.container ? 0 : 1,
        data:
          node.kind === "step"
            ? {
                step: node.step,
                view: views[node.id],
                items:
                  node.step.type === "loop" && counts[node.id]
                    ? {
                        count: counts[node.id],
                        shown: shownItems[node.id] ?? counts[node.id] - 1,
                        show: (index: number) => setShownItems((now) => ({ ...now, [node.id]: index })),
                      }
                    : undefined,
                movable: editable,
                problems: problems[node.id],
                selected: selected === node.id,
                container: node.container,
                select: setSelected,
                toggle,
                collapsed: collapsed.has(node.id),
              }
            : node.kind === "empty"
              ? { label: node.label, editable, add: () => setAdding({ list: node.list, index: node.index }), drop: editable ? moveTo({ list: node.list, index: node.index }) : undefined }
              : {},
      })),
    [laid, views, counts, shownItems, problems, selected, toggle, collapsed, editable, moveTo],
  );
  const edges = useMemo(
    () =>
      laid.edges.map((edge: LaidEdge) => ({
        id: edge.id,
        source: edge.source,
        target: edge.target,
        type: "plus",
        data: {
          label: edge.label,
          add: editable && edge.insert ? () => setAdding(edge.insert) : undefined,
          drop: editable && edge.insert ? moveTo(edge.insert) : undefined,
        },
      })),
    [laid, editable, moveTo],
  );
  // A small workflow is shown whole; a big one from its start, at a size one can read.
  const fitOptions = useMemo(
    () => ({ maxZoom: 1, nodes: laid.nodes.length > 40 ? laid.nodes.slice(0, 8).map((node) => ({ id: node.id })) : undefined }),
    // Only where the canvas opens: later edits keep the viewport where the person put it.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [],
  );
  const chosen = selected ? walk(workflow).find((placed) => placed.step.id === selected)?.step ?? null : null;

  return (
    <section>
      <div className="mb-3 flex flex-wrap items-center justify-between gap-2">
        <h1 className="text-2xl font-semibold text-slate-900">
          <Link to={`/workflows/${stored.id}`} className="text-indigo-800 underline underline-offset-2">
            {workflow.name}
          </Link>{" "}
          <span className="text-base font-normal text-slate-700">· builder{editable ? "" : " (read only)"}</span>
        </h1>
        <div className="flex flex-wrap gap-2">
          {view !== "canvas" && (
            <Button tone="plain" onClick={() => setView("canvas")}>
              Show canvas
            </Button>
          )}
          {view !== "outline" && (
            <Button tone="plain" onClick={() => setView("outline")}>
              Show outline
            </Button>
          )}
          {view !== "json" && (
            <Button tone="plain" onClick={() => setView("json")}>
              Show JSON
            </Button>
          )}
          <Button tone="plain" onClick={() => setHelp(!help)}>
            Shortcuts
          </Button>
          {editable && (
            <>
              <Button tone="plain" onClick={history.undo} disabled={!history.canUndo}>
                Undo
              </Button>
              <Button tone="plain" onClick={history.redo} disabled={!history.canRedo}>
                Redo
              </Button>
              {changed && (
                <label className="flex items-center gap-1 text-sm text-slate-800">
                  <input
                    value={note}
                    onChange={(event) => setNote(event.target.value)}
                    maxLength={500}
                    placeholder="What changed (optional)"
                    aria-label="What changed (optional)"
                    className="w-48 rounded-md border border-slate-300 px-2 py-1.5"
                  />
                </label>
              )}
              <Button onClick={() => save.mutate()} disabled={!changed || save.isPending}>
                {save.isPending ? "Saving…" : changed ? "Save" : "Saved"}
              </Button>
              <Button tone="plain" onClick={() => test.mutate()} disabled={changed || test.isPending}>
                Test run
              </Button>
            </>
          )}
        </div>
      </div>
      {draft && (
        <div role="status" className="mb-3 rounded-md bg-amber-50 p-3 text-sm text-amber-950 ring-1 ring-amber-200">
          <p className="mb-2 font-medium">You have changes from before that were not saved.</p>
          <div className="flex gap-2">
            <Button
              onClick={() => {
                history.edit(draft);
                setDraft(null);
              }}
            >
              Bring them back
            </Button>
            <Button
              tone="plain"
              onClick={() => {
                localStorage.removeItem(draftKey);
                setDraft(null);
              }}
            >
              Discard them
            </Button>
          </div>
        </div>
      )}
      {help && (
        <div role="region" aria-label="Keyboard shortcuts" className="mb-3 rounded-md bg-white p-3 text-sm ring-1 ring-slate-200">
          <ul className="grid gap-1 sm:grid-cols-2">
            <li><kbd>Ctrl/⌘ Z</kbd> undo · <kbd>Ctrl/⌘ Shift Z</kbd> redo</li>
            <li><kbd>Ctrl/⌘ C</kbd> copy the chosen step as JSON</li>
            <li><kbd>Ctrl/⌘ V</kbd> paste steps after the chosen one</li>
            <li><kbd>Delete</kbd> remove the chosen step</li>
            <li><kbd>Tab</kbd> move between steps · <kbd>Enter</kbd> choose one</li>
            <li><kbd>?</kbd> show or hide this list</li>
          </ul>
        </div>
      )}
      {editable && (
        <details className="mb-3">
          <summary className="cursor-pointer text-sm font-medium text-slate-800">Test input</summary>
          <label className="mt-1 block text-sm text-slate-800">
            What the trigger gives a test run (JSON)
            <textarea
              value={sample}
              onChange={(event) => setSample(event.target.value)}
              rows={3}
              spellCheck={false}
              className="mt-1 w-full rounded-md border border-slate-300 p-2 font-mono text-sm"
            />
          </label>
        </details>
      )}
      {problem && <Alert tone="error">{problem}</Alert>}
      {problems[""] && <Alert tone="error">{`The workflow: ${problems[""].join("; ")}`}</Alert>}
      {save.isError && <Alert tone="error">{describe(save.error)}</Alert>}
      {test.isError && <Alert tone="error">{describe(test.error)}</Alert>}
      {runId && (
        <p className="mb-2 text-sm text-slate-800">
          {run.data?.state === "FAILED" ? "The run being fixed" : "Test run"}:{" "}
          <Link to={`/executions/${runId}`} className="text-indigo-800 underline">
            see its steps
          </Link>
        </p>
      )}
      {failedAt && run.data && (
        <div role="alert" className="mb-3 rounded-md bg-red-50 p-3 text-sm text-red-900 ring-1 ring-red-200">
          <p className="font-medium">{`This run failed at "${failedAt}": ${run.data.error?.message ?? "see the step"}`}</p>
          {whatToTry(run.data.error) && <p className="mt-1">{`What to try: ${whatToTry(run.data.error)}`}</p>}
          <p className="mt-1">
            {changed
              ? "Save your fix, then resume: the steps before it keep what they made."
              : `Fix the step, save, and resume the run from "${failedAt}" on the new version; the steps before it are not run (or paid for) again.`}
          </p>
          {editable && (
            <div className="mt-2">
              <Button onClick={() => resume.mutate()} disabled={changed || resume.isPending}>
                {`Resume from "${failedAt}"`}
              </Button>
            </div>
          )}
          {resume.isError && <p className="mt-1">{describe(resume.error)}</p>}
        </div>
      )}
      <div className="grid gap-3 lg:grid-cols-[1fr_22rem]">
        {view === "canvas" ? (
          <div className="h-[70vh] rounded-lg bg-white ring-1 ring-slate-200" aria-label="Workflow canvas">
            <ReactFlow
              nodes={nodes}
              edges={edges}
              nodeTypes={nodeTypes}
              edgeTypes={edgeTypes}
              nodesDraggable={false}
              nodesConnectable={false}
              onlyRenderVisibleElements
              fitView
              fitViewOptions={fitOptions}
              minZoom={0.1}
              proOptions={{ hideAttribution: true }}
            >
              <Background />
              <Controls showInteractive={false} />
              <MiniMap pannable zoomable ariaLabel="Map of the whole workflow" />
            </ReactFlow>
          </div>
        ) : view === "outline" ? (
          <Outline
            workflow={workflow}
            states={states}
            select={setSelected}
            selected={selected}
            move={editable ? (id, after) => edit((current) => moveAfter(current, id, after)) : undefined}
          />
        ) : (
          <WholeJson
            key={JSON.stringify(workflow)}
            workflow={workflow}
            editable={editable}
            apply={(next) => edit(() => next)}
          />
        )}
        <aside aria-label="Step" className="rounded-lg bg-white p-3 ring-1 ring-slate-200">
          {adding && editable ? (
            <Palette
              connectors={connectors.data?.items ?? []}
              cancel={() => setAdding(null)}
              pick={(make) => {
                const step = make((base) => freeId(workflow, base));
                edit((current) => insert(current, adding.list, adding.index, step));
                setAdding(null);
                setSelected(step.id);
              }}
            />
          ) : chosen ? (
            <StepPanel
              key={chosen.id + JSON.stringify(chosen)}
              step={chosen}
              workflow={workflow}
              problems={problems[chosen.id] ?? []}
              connectors={connectors.data?.items ?? []}
              editable={editable}
              test={{ workflowKey: stored.id, runId, sample }}
              apply={(next) => edit((current) => replaceStep(current, chosen.id, next))}
              remove={() => {
                edit((current) => remove(current, chosen.id));
                setSelected(null);
              }}
            />
          ) : (
            <p className="text-sm text-slate-700">{editable ? "Choose a step to change it, or a + to add one." : "Choose a step to see it."}</p>
          )}
        </aside>
      </div>
    </section>
  );
}

/** Moves step `id` to just after step `after` (into `after`'s list). */
function moveAfter(workflow: Workflow, id: string, after: string): Workflow {
  const target = find(workflow, after);
  if (!target || id === after) return workflow;
  return move(workflow, id, target.list, target.index + 1);
}

function Outline(props: {
  workflow: Workflow;
  states: Record<string, string>;
  select: (id: string) => void;
  selected: string | null;
  move?: (id: string, after: string) => void;
}) {
  const [dragged, setDragged] = useState<string | null>(null);
  return (
    <ol aria-label="Outline" className="rounded-lg bg-white p-3 ring-1 ring-slate-200">
      {props.move && <li className="mb-1 text-xs text-slate-600">Drag a step onto another to move it just after that one.</li>}
      {walk(props.workflow).map(({ step, depth }) => (
        <li
          key={step.id}
          style={{ paddingLeft: `${depth * 1.25}rem` }}
          className="py-0.5"
          draggable={!!props.move}
          aria-label={`Outline step ${step.id}`}
          onDragStart={(event) => {
            setDragged(step.id);
            event.dataTransfer.setData("text/plain", step.id);
          }}
          onDragOver={(event) => {
            if (props.move && dragged && dragged !== step.id) event.preventDefault();
          }}
          onDrop={(event) => {
            event.preventDefault();
            const id = event.dataTransfer.getData("text/plain") || dragged;
            if (props.move && id && id !== step.id) props.move(id, step.id);
            setDragged(null);
          }}
        >
          <button
            type="button"
            onClick={() => props.select(step.id)}
            className={`flex w-full items-center gap-2 rounded px-2 py-1 text-left text-sm hover:bg-slate-50 ${props.selected === step.id ? "bg-indigo-50" : ""}`}
          >
            <span className="font-mono font-semibold">{step.id}</span>
            <span className="truncate text-slate-700">{summarize(step)}</span>
            {props.states[step.id] && <StateBadge state={props.states[step.id]} />}
          </button>
        </li>
      ))}
    </ol>
  );
}

function Palette(props: { connectors: Connector[]; cancel: () => void; pick: (make: (id: (base: string) => string) => Step) => void }) {
  const [search, setSearch] = useState("");
  const all = choices(props.connectors).filter((choice) => `${choice.group} ${choice.label}`.toLowerCase().includes(search.toLowerCase()));
  const groups = [...new Set(all.map((choice) => choice.group))];
  return (
    <div>
      <h2 className="mb-2 text-lg font-semibold text-slate-900">Add a step</h2>
      <label className="mb-2 block text-sm font-medium text-slate-800">
        Search
        <input value={search} onChange={(event) => setSearch(event.target.value)} className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5" autoFocus />
      </label>
      <div className="max-h-[55vh] overflow-auto" tabIndex={0} aria-label="Steps to add">
        {groups.map((group) => (
          <div key={group} className="mb-2">
            <h3 className="text-xs font-semibold uppercase text-slate-700">{group}</h3>
            {all
              .filter((choice) => choice.group === group)
              .map((choice) => (
                <button key={`${group}:${choice.label}`} type="button" onClick={() => props.pick(choice.make)} className="block w-full rounded px-2 py-1 text-left text-sm hover:bg-indigo-50">
                  {choice.label}
                </button>
              ))}
          </div>
        ))}
      </div>
      <button type="button" onClick={props.cancel} className={buttonClass("plain")}>
        Cancel
      </button>
    </div>
  );
}

function StepPanel(props: {
  step: Step;
  workflow: Workflow;
  problems: string[];
  connectors: Connector[];
  editable: boolean;
  test: { workflowKey: string; runId: string | null; sample: string };
  apply: (step: Step) => void;
  remove: () => void;
}) {
  const [mode, setMode] = useState<"form" | "json">(formFor(props.step) ? "form" : "json");
  const [text, setText] = useState(JSON.stringify(props.step, null, 2));
  const [error, setError] = useState<string | null>(null);
  const outputs = Object.fromEntries(
    props.connectors.flatMap((connector) => (connector.actions ?? []).map((action) => [`${connector.id}/${action.id}`, action.output_schema])),
  );
  const lastRun = useLastRun(props.test.workflowKey, props.test.runId);
  const ran = outputsOf(lastRun.run?.steps ?? []);
  const values = withSamples(available(props.workflow, props.step.id, outputs, ran), ran);
  return (
    <div>
      <h2 className="mb-1 text-lg font-semibold text-slate-900">{props.step.id}</h2>
      <p className="mb-2 text-sm text-slate-800">{summarize(props.step)}</p>
      {props.problems.length > 0 && (
        <ul aria-label="Problems" className="mb-2 list-disc rounded-md bg-red-50 py-2 pl-6 pr-2 text-sm text-red-900 ring-1 ring-red-200">
          {props.problems.map((text) => (
            <li key={text}>{text}</li>
          ))}
        </ul>
      )}
      {formFor(props.step) && (
        <div className="mb-2 flex gap-2 text-sm">
          <button type="button" onClick={() => setMode("form")} aria-pressed={mode === "form"} className={buttonClass(mode === "form" ? "primary" : "plain")}>
            Settings
          </button>
          <button type="button" onClick={() => setMode("json")} aria-pressed={mode === "json"} className={buttonClass(mode === "json" ? "primary" : "plain")}>
            JSON
          </button>
        </div>
      )}
      {mode === "form" ? (
        <StepForm step={props.step} connectors={props.connectors} values={values} editable={props.editable} apply={props.apply} />
      ) : (
        <>
          <Suspense fallback={<p role="status">Loading the editor…</p>}>
            <JsonEditor value={text} onChange={setText} label="Step JSON" problems={[]} readOnly={!props.editable} />
          </Suspense>
          {error && <Alert tone="error">{error}</Alert>}
          {props.editable && (
            <div className="mt-2">
              <Button
                onClick={() => {
                  try {
                    props.apply(JSON.parse(text) as Step);
                    setError(null);
                  } catch (failure) {
                    setError(`This is not a step: ${(failure as Error).message}`);
                  }
                }}
              >
                Apply
              </Button>
            </div>
          )}
        </>
      )}
      {props.editable && (
        <div className="mt-2">
          <Button tone="danger" onClick={props.remove}>
            Remove step
          </Button>
        </div>
      )}
      {props.editable && testable(props.step) && <StepTest {...props.test} workflow={props.workflow} step={props.step} />}
    </div>
  );
}

/** The fields a step's form shows, where the step has one: its inputs, or its own settings. */
function formFor(step: Step): "inputs" | "top" | null {
  if (step.type in TOP_FIELDS) return "top";
  if (step.type === "integration" || (step.type === "transformation" && String(step.action) in TRANSFORMATIONS)) {
    return "inputs";
  }
  return null;
}

/** The settings of the step kinds that are not an action's inputs, in plain words. */
const TOP_FIELDS: Record<string, Field[]> = {
  llm: [
    { name: "provider", label: "AI provider", kind: "choice", required: true, options: ["openai", "anthropic", "google", "cohere"] },
    { name: "model", label: "Model", kind: "text", required: true, help: "e.g. gpt-4o-mini" },
    { name: "prompt", label: "Prompt", kind: "text", required: true, help: "What to ask. Put values in with {{ }} or the list below." },
  ],
  agent: [
    { name: "provider", label: "AI provider", kind: "choice", required: true, options: ["openai", "anthropic", "google"] },
    { name: "model", label: "Model", kind: "text", required: true, help: "e.g. gpt-4o-mini; it must be able to call tools" },
    { name: "prompt", label: "Goal", kind: "text", required: true, help: "What the agent should find out or get done. Put values in with {{ }} or the list below." },
    { name: "max_iterations", label: "Most turns", kind: "number", required: false, help: "It stops and fails after this many model turns (8 when empty)" },
    { name: "max_cost_usd", label: "Most it may spend (US dollars)", kind: "number", required: false, help: "e.g. 0.50; it stops and fails past it" },
  ],
  conditional: [
    {
      name: "condition",
      label: "Condition",
      kind: "text",
      required: true,
      help: "When it is true the first branch runs, else the second; e.g. read_email.subject is not none and 'order' in read_email.subject",
      expression: true,
    },
  ],
  loop: [{ name: "items", label: "Items to go through", kind: "text", required: true, help: "A list, e.g. search.messages", expression: true }],
  approval: [{ name: "message", label: "What to ask", kind: "text", required: true, help: "The person sees this with Approve and Reject." }],
  delay: [{ name: "duration", label: "How long to wait", kind: "text", required: true, help: "e.g. 30s, 10m, 2h, 1d" }],
  sub_workflow: [{ name: "workflow", label: "Workflow to run", kind: "text", required: true, help: "Its id, e.g. wf_notify_team; it gets this run's data as its trigger" }],
};


function StepForm(props: {
  step: Step;
  connectors: Connector[];
  values: Offered[];
  editable: boolean;
  apply: (step: Step) => void;
}) {
  const [draft, setDraft] = useState<Step>(structuredClone(props.step));
  const credentials = useQuery({
    queryKey: ["credentials"],
    queryFn: () => api<{ items: { service: string; name: string }[] }>("/api/v1/credentials"),
    enabled: props.step.type === "integration",
  });
  const action = props.connectors.find((connector) => connector.id === props.step.service)?.actions?.find((known) => known.id === props.step.action);
  const onTop = props.step.type in TOP_FIELDS;
  const fields: Field[] = onTop
    ? TOP_FIELDS[props.step.type]
    : props.step.type === "transformation"
      ? props.step.action === "set"
        ? Object.keys((draft.inputs ?? {}) as object).map((name): Field => ({ name, label: name, kind: "text", required: false }))
        : TRANSFORMATIONS[String(props.step.action)]?.fields ?? []
      : fieldsOf(action?.input_schema as never, action?.example);
  const get = (name: string) => (onTop ? draft[name] : ((draft.inputs ?? {}) as Record<string, unknown>)[name]);
  const set = (name: string, value: unknown) =>
    setDraft((now) => {
      const next = structuredClone(now);
      // An optional setting left empty is left out, not saved as empty text.
      if (onTop && (value === "" || value === undefined)) delete next[name];
      else if (onTop) next[name] = value;
      else {
        const inputs = { ...((next.inputs ?? {}) as Record<string, unknown>) };
        // A value set by a "Set values" step is kept while it is empty: its name is the field.
        if ((value === "" || value === undefined) && props.step.action !== "set") delete inputs[name];
        else inputs[name] = value;
        next.inputs = inputs;
      }
      return next;
    });
  const mine = (credentials.data?.items ?? []).filter((credential) => credential.service === props.step.service);
  // The field a picked value goes into: the last one a person was in.
  const [focused, setFocused] = useState<Field | null>(null);
  const textFields = fields.filter((field) => field.kind !== "boolean" && field.kind !== "choice");
  const target = focused ?? textFields[0] ?? null;
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        props.apply(draft);
      }}
    >
      {fields.map((field) => (
        <div key={field.name} onFocusCapture={() => setFocused(field)}>
          <FormField field={field} value={get(field.name)} values={props.values} editable={props.editable} change={(value) => set(field.name, value)} />
        </div>
      ))}
      {props.editable && props.step.type === "transformation" && props.step.action === "set" && (
        <SetNames
          names={fields.map((field) => field.name)}
          add={(name) => set(name, "")}
          remove={(name) =>
            setDraft((now) => {
              const inputs = { ...((now.inputs ?? {}) as Record<string, unknown>) };
              delete inputs[name];
              return { ...now, inputs };
            })
          }
        />
      )}
      {props.step.type === "agent" && (
        <AgentTools tools={draft.tools} connectors={props.connectors} editable={props.editable} change={(tools) => setDraft((now) => ({ ...now, tools }))} />
      )}
      {props.step.type === "llm" && (
        <AnswerFields
          schema={draft.output_schema}
          editable={props.editable}
          change={(schema) =>
            setDraft((now) => {
              const next = { ...now, output_schema: schema };
              if (schema === undefined) delete next.output_schema;
              return next;
            })
          }
        />
      )}
      {props.editable && target && props.values.length > 0 && (
        <section aria-label="Values from earlier steps" className="mb-3">
          <h3 className="text-xs font-semibold uppercase text-slate-700">Values from earlier steps</h3>
          <p className="mb-1 text-xs text-slate-600">{`Click one to put it into ${target.label}, or drag it into any field.`}</p>
          <ul className="grid max-h-48 grid-cols-1 gap-1 overflow-auto sm:grid-cols-2">
            {props.values.map((value) => (
              <li key={value.reference}>
                <button
                  type="button"
                  draggable
                  onDragStart={(event) => event.dataTransfer.setData("text/plain", value.reference)}
                  onClick={() => set(target.name, inserted(get(target.name), value.reference, target.expression))}
                  className="w-full rounded border border-slate-300 bg-white px-2 py-1 text-left text-xs hover:border-indigo-600"
                >
                  <span className="block font-medium text-slate-900">{value.label}</span>
                  <span className="block truncate text-slate-700">{value.sample ?? "a test run shows its value"}</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      {props.step.type === "integration" && (
        <label className="mb-3 block text-sm font-medium text-slate-800">
          Connection
          <select
            value={String(draft.credential ?? "")}
            disabled={!props.editable}
            onChange={(event) => setDraft((now) => ({ ...now, credential: event.target.value || undefined }))}
            className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5"
          >
            <option value="">{mine.length === 1 ? `${mine[0].name} (the only one)` : "Choose a connection"}</option>
            {mine.map((credential) => (
              <option key={credential.name} value={credential.name}>
                {credential.name}
              </option>
            ))}
          </select>
          {mine.length === 0 && <span className="mt-1 block text-xs text-amber-900">No connection to {String(props.step.service)} yet: add one in Integrations.</span>}
        </label>
      )}
      {props.editable && <Button type="submit">Apply</Button>}
    </form>
  );
}

/** An agent's tools: connector actions it may call, each perhaps only after a person approves. */
function AgentTools(props: { tools: unknown; connectors: Connector[]; editable: boolean; change: (tools: AgentTool[]) => void }) {
  const tools = Array.isArray(props.tools) ? (props.tools as AgentTool[]) : [];
  const actions = props.connectors.flatMap((connector) => (connector.actions ?? []).map((action) => ({ service: connector.id, action: action.id, label: `${connector.name}: ${action.description}` })));
  const [chosen, setChosen] = useState("");
  const [approval, setApproval] = useState(false);
  return (
    <section aria-label="Agent tools" className="mb-3 rounded-md border border-slate-200 p-2 text-sm">
      <h3 className="text-xs font-semibold uppercase text-slate-700">Tools</h3>
      <p className="mb-1 text-xs text-slate-600">
        {tools.length === 0 ? "The agent can use nothing yet: add the actions it may take." : "The agent may use these, as often as it needs, within its turns and budget."}
      </p>
      {tools.length > 0 && (
        <ul className="mb-2 space-y-1">
          {tools.map((tool) => {
            const name = tool.name ?? tool.action ?? tool.workflow ?? "";
            return (
              <li key={name} className="flex items-center justify-between gap-2 rounded bg-slate-50 px-2 py-1">
                <span>
                  <span className="font-medium text-slate-900">{name}</span>
                  <span className="text-slate-700">{` · ${tool.workflow ? `workflow ${tool.workflow}` : `${tool.service}/${tool.action}`}${tool.approval ? " · asks a person first" : ""}`}</span>
                </span>
                {props.editable && (
                  <button type="button" onClick={() => props.change(withoutTool(tools, name))} className="rounded border border-slate-300 px-1.5 text-xs text-slate-800">
                    {`Remove ${name}`}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {props.editable && (
        <div className="flex flex-wrap items-end gap-2">
          <label className="block flex-1 font-medium text-slate-800">
            Action to allow
            <select value={chosen} onChange={(event) => setChosen(event.target.value)} className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5">
              <option value="">Choose an action</option>
              {actions.map((action) => (
                <option key={`${action.service}/${action.action}`} value={`${action.service}/${action.action}`}>
                  {action.label}
                </option>
              ))}
            </select>
          </label>
          <label className="flex items-center gap-1 text-slate-800">
            <input type="checkbox" checked={approval} onChange={(event) => setApproval(event.target.checked)} />
            Ask a person before each use
          </label>
          <Button
            tone="plain"
            disabled={!chosen}
            onClick={() => {
              const [service, action] = chosen.split("/");
              props.change(withTool(tools, { service, action, approval }));
              setChosen("");
              setApproval(false);
            }}
          >
            Add the tool
          </Button>
        </div>
      )}
    </section>
  );
}

/** The values an AI step's answer must hold, by name: the step's `output_schema` in plain words. */
function AnswerFields(props: { schema: unknown; editable: boolean; change: (schema: Record<string, unknown> | undefined) => void }) {
  const fields = answerFields(props.schema);
  const [name, setName] = useState("");
  const [kind, setKind] = useState<AnswerKind>("text");
  const [description, setDescription] = useState("");
  const valid = /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !fields.some((field) => field.name === name);
  return (
    <section aria-label="Answer fields" className="mb-3 rounded-md border border-slate-200 p-2 text-sm">
      <h3 className="text-xs font-semibold uppercase text-slate-700">Answer fields</h3>
      <p className="mb-1 text-xs text-slate-600">
        {fields.length === 0
          ? "The model answers in free text. Name the values you want from it instead, and later steps can use each one."
          : "The model answers with these values, checked; asked once more when one is missing or of the wrong kind."}
      </p>
      {fields.length > 0 && (
        <ul className="mb-2 space-y-1">
          {fields.map((field) => (
            <li key={field.name} className="flex items-center justify-between gap-2 rounded bg-slate-50 px-2 py-1">
              <span>
                <span className="font-medium text-slate-900">{field.name}</span>
                <span className="text-slate-700">{` · ${field.kind}${field.description ? ` · ${field.description}` : ""}`}</span>
              </span>
              {props.editable && (
                <button type="button" onClick={() => props.change(withoutAnswerField(props.schema, field.name))} className="rounded border border-slate-300 px-1.5 text-xs text-slate-800">
                  {`Remove ${field.name}`}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {props.editable && (
        <div className="grid grid-cols-1 gap-2 sm:grid-cols-3">
          <label className="block font-medium text-slate-800">
            Field name
            <input value={name} onChange={(event) => setName(event.target.value.trim())} placeholder="e.g. reply" className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5" />
          </label>
          <label className="block font-medium text-slate-800">
            Kind of value
            <select value={kind} onChange={(event) => setKind(event.target.value as AnswerKind)} className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5">
              {ANSWER_KINDS.map((known) => (
                <option key={known} value={known}>
                  {known}
                </option>
              ))}
            </select>
          </label>
          <label className="block font-medium text-slate-800">
            What it holds
            <input value={description} onChange={(event) => setDescription(event.target.value)} placeholder="e.g. the reply, without a signature" className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5" />
          </label>
          <div className="sm:col-span-3">
            <Button
              tone="plain"
              disabled={!valid}
              onClick={() => {
                props.change(withAnswerField(props.schema, { name, kind, description: description.trim() }));
                setName("");
                setDescription("");
              }}
            >
              Add the field
            </Button>
            {name && !valid && <p className="mt-1 text-xs text-red-800">A name is letters, digits and _, not starting with a digit, and not one already there.</p>}
          </div>
        </div>
      )}
    </section>
  );
}

/** The names a "Set values" step gives its result: add one, remove one. */
function SetNames(props: { names: string[]; add: (name: string) => void; remove: (name: string) => void }) {
  const [name, setName] = useState("");
  const valid = /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !props.names.includes(name);
  return (
    <div className="mb-3 text-sm">
      <div className="flex items-end gap-2">
        <label className="block flex-1 font-medium text-slate-800">
          A new value's name
          <input value={name} onChange={(event) => setName(event.target.value.trim())} placeholder="e.g. total" className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5" />
        </label>
        <Button
          tone="plain"
          disabled={!valid}
          onClick={() => {
            props.add(name);
            setName("");
          }}
        >
          Add the value
        </Button>
      </div>
      {name && !valid && <p className="mt-1 text-xs text-red-800">A name is letters, digits and _, not starting with a digit, and not one already there.</p>}
      {props.names.length > 0 && (
        <p className="mt-1 flex flex-wrap gap-1">
          {props.names.map((known) => (
            <button key={known} type="button" onClick={() => props.remove(known)} className="rounded border border-slate-300 px-1.5 text-xs text-slate-800">
              {`Remove ${known}`}
            </button>
          ))}
        </p>
      )}
    </div>
  );
}

/** A field's text with a value put in at its end (an expression takes the value bare). */
function inserted(current: unknown, reference: string, expression?: boolean): string {
  const before = typeof current === "string" ? current : current === undefined ? "" : String(current);
  const value = expression ? reference.replace(/^\{\{\s*|\s*\}\}$/g, "") : reference;
  return `${before}${before && !before.endsWith(" ") ? " " : ""}${value}`;
}

/** The settings written at length: several lines. */
const LONG = new Set(["prompt", "template", "body", "condition", "message", "text"]);

function FormField(props: {
  field: Field;
  value: unknown;
  values: Offered[];
  editable: boolean;
  change: (value: unknown) => void;
}) {
  const { field } = props;
  const id = useId();
  const label = `${field.label}${field.required ? " (required)" : ""}`;
  const input = "mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5 text-sm";
  // A yes/no or a choice takes a fixed value or one from earlier steps; switching keeps what
  // each side held, so nothing typed is lost.
  const switchable = field.kind === "boolean" || field.kind === "choice";
  const [mapped, setMapped] = useState(typeof props.value === "string" && props.value.includes("{{"));
  const [kept, setKept] = useState<{ fixed: unknown; mapped: string }>({ fixed: undefined, mapped: "" });
  const switchTo = (next: boolean) => {
    if (next === mapped) return;
    if (next) {
      setKept({ ...kept, fixed: props.value });
      props.change(kept.mapped || undefined);
    } else {
      setKept({ ...kept, mapped: typeof props.value === "string" ? props.value : "" });
      props.change(kept.fixed);
    }
    setMapped(next);
  };
  const asText = !switchable || mapped;
  const shown = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value));
  return (
    <div className="mb-3">
      {switchable && props.editable && (
        <div role="group" aria-label={`How ${field.label} is set`} className="mb-1 flex gap-1 text-xs">
          <button type="button" aria-pressed={!mapped} onClick={() => switchTo(false)} className={`rounded border px-1.5 ${mapped ? "border-slate-300 text-slate-700" : "border-indigo-700 bg-indigo-50 text-indigo-900"}`}>
            Fixed value
          </button>
          <button type="button" aria-pressed={mapped} onClick={() => switchTo(true)} className={`rounded border px-1.5 ${mapped ? "border-indigo-700 bg-indigo-50 text-indigo-900" : "border-slate-300 text-slate-700"}`}>
            From earlier steps
          </button>
        </div>
      )}
      {asText ? null : field.kind === "boolean" ? (
        <label className="flex items-center gap-2 text-sm font-medium text-slate-800">
          <input type="checkbox" checked={props.value === true} disabled={!props.editable} onChange={(event) => props.change(event.target.checked)} />
          {label}
        </label>
      ) : field.kind === "choice" ? (
        <label className="block text-sm font-medium text-slate-800">
          {label}
          <select value={String(props.value ?? "")} disabled={!props.editable} onChange={(event) => props.change(event.target.value)} className={input}>
            <option value="">Choose…</option>
            {field.options?.map((option) => (
              <option key={option} value={option}>
                {option}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      {asText && (
        <>
          <span className="block text-sm font-medium text-slate-800">{label}</span>
          <Suspense fallback={<p role="status">Loading…</p>}>
            <TemplateField
              label={label}
              value={typeof props.value === "string" ? props.value : props.value === undefined ? "" : JSON.stringify(props.value)}
              values={props.values}
              expression={field.expression}
              multiline={LONG.has(field.name)}
              readOnly={!props.editable}
              describedBy={field.help || field.example !== undefined || field.default !== undefined ? id : undefined}
              onChange={(text) => {
                if (field.kind === "number" && text.trim() !== "" && !text.includes("{{") && !Number.isNaN(Number(text))) props.change(Number(text));
                else props.change(text);
              }}
            />
          </Suspense>
        </>
      )}
      {(field.help || field.example !== undefined || field.default !== undefined) && (
        <p id={id} className="mt-0.5 text-xs text-slate-600">
          {[
            field.help,
            field.example !== undefined && field.example !== "" ? `Example: ${shown(field.example)}` : null,
            field.default !== undefined ? `Left empty: ${shown(field.default)}` : null,
          ]
            .filter(Boolean)
            .join(" · ")}
        </p>
      )}
      {props.editable && asText && props.values.length > 0 && (
        <label className="mt-1 block text-xs text-slate-700">
          <span className="sr-only">Insert into {field.label}</span>
          <select
            value=""
            onChange={(event) => {
              if (event.target.value) props.change(inserted(props.value, event.target.value, field.expression));
            }}
            className="rounded border border-slate-300 px-1 py-0.5"
            aria-label={`Insert a value into ${field.label}`}
          >
            <option value="">+ Insert a value from an earlier step…</option>
            {props.values.map((value) => (
              <option key={value.reference} value={value.reference}>
                {value.label}
              </option>
            ))}
          </select>
        </label>
      )}
    </div>
  );
}

/** The whole workflow as JSON: what the canvas shows, and edits that come back to it. */
function WholeJson(props: { workflow: Workflow; editable: boolean; apply: (workflow: Workflow) => void }) {
  const [text, setText] = useState(JSON.stringify(props.workflow, null, 2));
  const [error, setError] = useState<string | null>(null);
  return (
    <div className="rounded-lg bg-white p-3 ring-1 ring-slate-200">
      <Suspense fallback={<p role="status">Loading the editor…</p>}>
        <JsonEditor value={text} onChange={setText} label="Workflow JSON" problems={[]} readOnly={!props.editable} />
      </Suspense>
      {error && <Alert tone="error">{error}</Alert>}
      {props.editable && (
        <div className="mt-2">
          <Button
            onClick={() => {
              try {
                const next = JSON.parse(text) as Workflow;
                if (!Array.isArray(next.steps)) throw new Error("a workflow has a list of steps");
                props.apply(next);
                setError(null);
              } catch (failure) {
                setError(`This is not a workflow: ${(failure as Error).message}`);
              }
            }}
          >
            Apply to the canvas
          </Button>
        </div>
      )}
    </div>
  );
}
