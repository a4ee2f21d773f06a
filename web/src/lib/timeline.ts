// A run's steps as a timeline: top-level steps in order, each loop's items grouped under it
// (`each[3].send` is step `send` of item 3 of loop `each`), and a failure's "what to try".

export type StepRecord = {
  id: string;
  state: string;
  error: { message?: string; class?: string } | null;
  duration_ms: number | null;
  [key: string]: unknown;
};

export type LoopItem<S extends StepRecord> = { index: number; state: string; steps: Entry<S>[] };

export type Entry<S extends StepRecord> =
  | { kind: "step"; name: string; step: S }
  | { kind: "loop"; name: string; step: S | null; items: LoopItem<S>[] };

const ITEM = /^([^.[\]]+)\[(\d+)\]\.(.+)$/;

/** The state a loop item shows: its worst step's. */
function itemState(steps: StepRecord[]): string {
  for (const state of ["FAILED", "RUNNING", "WAITING", "PENDING"]) {
    if (steps.some((step) => step.state === state)) return state;
  }
  return "COMPLETED";
}

/**
 * Groups steps by loop item, in the order they came, nested loops inside their items. `name`
 * is the step's id within its item.
 */
export function timeline<S extends StepRecord>(steps: S[]): Entry<S>[] {
  return group(steps.map((step) => ({ name: step.id, step })));
}

function group<S extends StepRecord>(named: { name: string; step: S }[]): Entry<S>[] {
  const entries: Entry<S>[] = [];
  const loops = new Map<string, { entry: Extract<Entry<S>, { kind: "loop" }>; items: Map<number, { name: string; step: S }[]> }>();
  const loopOf = (name: string) => {
    let loop = loops.get(name);
    if (!loop) {
      loop = { entry: { kind: "loop", name, step: null, items: [] }, items: new Map() };
      loops.set(name, loop);
      entries.push(loop.entry);
    }
    return loop;
  };
  for (const { name, step } of named) {
    const match = ITEM.exec(name);
    if (match) {
      const loop = loopOf(match[1]);
      const index = Number(match[2]);
      if (!loop.items.has(index)) loop.items.set(index, []);
      loop.items.get(index)!.push({ name: match[3], step });
    } else if (loops.has(name)) {
      loops.get(name)!.entry.step = step;
    } else {
      // A loop's own row may come before its items: keep its place, items join it later.
      const loop = { entry: { kind: "loop" as const, name, step, items: [] }, items: new Map() };
      loops.set(name, loop);
      entries.push(loop.entry);
    }
  }
  for (const { entry, items } of loops.values()) {
    entry.items = [...items.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, inner]) => ({ index, state: itemState(inner.map((named) => named.step)), steps: group(inner) }));
  }
  // A name that never had items is a plain step.
  return entries.map((entry) =>
    entry.kind === "loop" && entry.items.length === 0 && entry.step ? { kind: "step", name: entry.name, step: entry.step } : entry,
  );
}

/** What a person can do about a failed step, from its error's class and words. */
export function whatToTry(error: { message?: string; class?: string } | null): string | null {
  if (!error) return null;
  const message = (error.message ?? "").toLowerCase();
  const has = (...words: string[]) => words.some((word) => message.includes(word));
  if (has("budget")) return "This month's AI budget is spent. Raise it in Settings, then retry.";
  if (has("unauthorized", "invalid api key", "401", "reconnect", "credential", "forbidden", "403"))
    return "The app's connection was refused. Reconnect it or check its key in Integrations, then retry.";
  if (has("rate limit", "429", "too many")) return "The service asked Baton to slow down. Retry in a few minutes, or run this less often.";
  if (has("circuit")) return "Baton paused calls to this service after repeated failures. It tries again shortly; retry then.";
  if (has("timed out", "timeout")) return "The service took too long. Retry; if it keeps happening, give the step a longer timeout.";
  if (has("refers to nothing", "undefined", "no such", "missing"))
    return "A step reads a value this run does not have. Check the run's input and the {{ }} names in the step, then retry.";
  if (error.class === "transient") return "This looks temporary. Retry the run.";
  if (error.class === "system") return "Baton itself had a problem (its database or memory). Tell your admin, then retry.";
  return "Fix the step's settings in the builder (Fix it in the builder), save, then resume from the failed step.";
}

/**
 * What happened on the way to a model's answer, in words, from its output: earlier attempts,
 * models that failed (an open circuit with until when) and which answered, and an answer asked
 * for again because it did not have the step's shape.
 */
export function notesOf(output: unknown): string[] {
  if (!output || typeof output !== "object" || Array.isArray(output)) return [];
  const { notes, repaired } = output as { notes?: unknown; repaired?: unknown };
  const said = Array.isArray(notes) ? notes.filter((note): note is string => typeof note === "string") : [];
  if (Array.isArray(repaired) && repaired.length > 0) {
    said.push(`asked again for the answer's shape: ${repaired.filter((problem) => typeof problem === "string").join("; ")}`);
  }
  return said;
}
