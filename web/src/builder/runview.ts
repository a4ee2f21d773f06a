// A run as the canvas shows it: each step's state, time, tokens and cost by the step's own id,
// and, inside a loop, the item a person chose to look at ("item 3 of 25").

export type RunStep = {
  id: string;
  state: string;
  duration_ms?: number | null;
  usage?: { input_tokens?: number; output_tokens?: number };
  cost_usd?: number;
};

export type StepView = { state: string; duration_ms?: number | null; tokens?: number; cost?: number };

/** A step's own id from its run key: `each[3].send` → `send`. */
export const ownId = (key: string) => parse(key).own;

/** `outer[1].inner[2].send` → the loops it is in with their item, and the step's own id. */
function parse(key: string): { own: string; items: [string, number][] } {
  const parts = key.split(".");
  const items: [string, number][] = [];
  for (const part of parts.slice(0, -1)) {
    const found = /^(.*)\[(\d+)\]$/.exec(part);
    if (found) items.push([found[1], Number(found[2])]);
  }
  return { own: parts[parts.length - 1].replace(/\[\d+\]$/, ""), items };
}

/** How many items each loop of the run went through, by the loop's id. */
export function loopCounts(steps: RunStep[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const step of steps) {
    for (const [loop, index] of parse(step.id).items) counts[loop] = Math.max(counts[loop] ?? 0, index + 1);
  }
  return counts;
}

/**
 * Each step's view by its own id: inside a loop, the item `chosen` names for that loop (0-based),
 * else the latest item that reached it.
 */
export function stepViews(steps: RunStep[], chosen: Record<string, number> = {}): Record<string, StepView> {
  const views: Record<string, StepView> = {};
  for (const step of steps) {
    const { own, items } = parse(step.id);
    if (items.some(([loop, index]) => loop in chosen && chosen[loop] !== index)) continue;
    const tokens = (step.usage?.input_tokens ?? 0) + (step.usage?.output_tokens ?? 0);
    views[own] = { state: step.state, duration_ms: step.duration_ms, tokens: tokens || undefined, cost: step.cost_usd || undefined };
  }
  return views;
}

/** `1.2 s · 150 tokens · $0.0004`: what a step took, in a few words. */
export function measures(view: StepView | undefined): string {
  if (!view) return "";
  const said: string[] = [];
  if (typeof view.duration_ms === "number") said.push(view.duration_ms < 1000 ? `${view.duration_ms} ms` : `${(view.duration_ms / 1000).toFixed(1)} s`);
  if (view.tokens) said.push(`${view.tokens} tokens`);
  if (view.cost) said.push(`$${view.cost.toFixed(4)}`);
  return said.join(" · ");
}
