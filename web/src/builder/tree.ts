// The workflow as the builder sees it: the DSL's tree of steps, where each step is reached by
// a path (its list and index), and the pure edits on it (insert, remove, move), each returning
// a new document and leaving the old one as it was (so undo is keeping the old one).

export type Step = { id: string; type: string; [field: string]: unknown };
export type Workflow = { id: string; name: string; steps: Step[]; [field: string]: unknown };

/** Where a list of steps is: the top level, or a field of a step (`then`, `else`, `steps`, a branch). */
export type ListPath = { parent: string | null; field: "steps" | "then" | "else" | "branches"; branch?: number };

/** The lists of steps a step holds, in the order they are drawn. */
export function childLists(step: Step): ListPath[] {
  switch (step.type) {
    case "conditional":
      return [
        { parent: step.id, field: "then" },
        { parent: step.id, field: "else" },
      ];
    case "loop":
      return [{ parent: step.id, field: "steps" }];
    case "parallel":
      return ((step.branches as Step[][] | undefined) ?? []).map((_, branch) => ({ parent: step.id, field: "branches", branch }));
    default:
      return [];
  }
}

/** The steps of one of a step's lists (never `undefined`). */
export function listFor(step: Step, at: ListPath): Step[] {
  if (at.field === "branches") return ((step.branches as Step[][] | undefined) ?? [])[at.branch ?? 0] ?? [];
  return (step[at.field] as Step[] | undefined) ?? [];
}

/** Every step with the list it is in and its place there, in the order a run meets them. */
export function walk(workflow: Workflow): { step: Step; list: ListPath; index: number; depth: number }[] {
  const out: { step: Step; list: ListPath; index: number; depth: number }[] = [];
  const visit = (steps: Step[], list: ListPath, depth: number) =>
    steps.forEach((step, index) => {
      out.push({ step, list, index, depth });
      for (const child of childLists(step)) visit(listFor(step, child), child, depth + 1);
    });
  visit(workflow.steps ?? [], { parent: null, field: "steps" }, 0);
  return out;
}

export function find(workflow: Workflow, id: string) {
  return walk(workflow).find((placed) => placed.step.id === id);
}

/** A copy of the document with the list at `at` replaced by what `change` makes of it. */
function withList(workflow: Workflow, at: ListPath, change: (steps: Step[]) => Step[]): Workflow {
  const copy = structuredClone(workflow);
  if (at.parent === null) {
    copy.steps = change([...(copy.steps ?? [])]);
    return copy;
  }
  const owner = find(copy, at.parent);
  if (!owner) throw new Error(`there is no step ${at.parent}`);
  if (at.field === "branches") {
    const branches = [...((owner.step.branches as Step[][] | undefined) ?? [])];
    branches[at.branch ?? 0] = change([...(branches[at.branch ?? 0] ?? [])]);
    owner.step.branches = branches;
  } else {
    owner.step[at.field] = change([...((owner.step[at.field] as Step[] | undefined) ?? [])]);
  }
  return copy;
}

export function insert(workflow: Workflow, at: ListPath, index: number, step: Step): Workflow {
  if (find(workflow, step.id)) throw new Error(`a step is already named ${step.id}`);
  return withList(workflow, at, (steps) => [...steps.slice(0, index), step, ...steps.slice(index)]);
}

export function remove(workflow: Workflow, id: string): Workflow {
  const placed = find(workflow, id);
  if (!placed) return workflow;
  return withList(workflow, placed.list, (steps) => steps.filter((step) => step.id !== id));
}

/** Moves a step to `index` of the list at `to` (a step cannot go inside itself). */
export function move(workflow: Workflow, id: string, to: ListPath, index: number): Workflow {
  const placed = find(workflow, id);
  if (!placed) return workflow;
  if (to.parent !== null && (to.parent === id || isInside(workflow, to.parent, id))) {
    throw new Error("a step cannot be moved inside itself");
  }
  const sameList = JSON.stringify(placed.list) === JSON.stringify(to);
  const target = sameList && placed.index < index ? index - 1 : index;
  return insert(remove(workflow, id), to, target, placed.step);
}

/** Whether the step `inner` sits somewhere inside the step `outer`. */
function isInside(workflow: Workflow, inner: string, outer: string): boolean {
  let current = find(workflow, inner);
  while (current && current.list.parent !== null) {
    if (current.list.parent === outer) return true;
    current = find(workflow, current.list.parent);
  }
  return false;
}

export function replaceStep(workflow: Workflow, id: string, step: Step): Workflow {
  const placed = find(workflow, id);
  if (!placed) return workflow;
  if (step.id !== id && find(workflow, step.id)) throw new Error(`a step is already named ${step.id}`);
  return withList(workflow, placed.list, (steps) => steps.map((known) => (known.id === id ? step : known)));
}

/** An id not yet taken: `base`, else `base_2`, `base_3`, ... */
export function freeId(workflow: Workflow, base: string): string {
  const taken = new Set(walk(workflow).map((placed) => placed.step.id));
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}_${n}`)) return `${base}_${n}`;
}

/**
 * Steps pasted in (one step, a list, or a whole workflow's `steps`), with every id that is
 * taken in `workflow` (or twice in the paste) renamed to a free one.
 */
export function pasted(workflow: Workflow, text: string): Step[] {
  const value = JSON.parse(text) as unknown;
  const list = Array.isArray(value)
    ? value
    : value && typeof value === "object" && Array.isArray((value as Workflow).steps) && !(value as Step).type
      ? (value as Workflow).steps
      : [value];
  const steps = list as Step[];
  if (!steps.every((step) => step && typeof step === "object" && typeof step.id === "string" && typeof step.type === "string")) {
    throw new Error("this is not a step: a step has an id and a type");
  }
  let into: Workflow = structuredClone(workflow);
  const renamed = structuredClone(steps);
  const rename = (items: Step[]) => {
    for (const step of items) {
      step.id = freeId(into, step.id);
      into = { ...into, steps: [...into.steps, { id: step.id, type: "marker" }] };
      for (const child of childLists(step)) rename(listFor(step, child));
    }
  };
  rename(renamed);
  return renamed;
}
