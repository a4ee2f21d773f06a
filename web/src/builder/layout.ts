// The canvas's layout, from the tree alone: a list of steps stacks downwards; a conditional's
// or a parallel's branches stand side by side under it and meet again at a join; a loop is a
// box holding its steps. Nothing is placed by hand and nothing overlaps. Each edge carries the
// place a "+" on it inserts at. Laid-out subtrees are kept by content, so an edit lays out
// again only the lists it changed.
import { childLists, listFor, type ListPath, type Step } from "./tree";

export const CARD = { width: 240, height: 76 };
const GAP_Y = 44;
const GAP_X = 32;
const PAD = 16;
const HEADER = 44;
const JOIN = 16;
const EMPTY = { width: 160, height: 40 };

export type Placed =
  | { kind: "step"; id: string; step: Step; x: number; y: number; width: number; height: number; container: boolean }
  | { kind: "join"; id: string; x: number; y: number; width: number; height: number }
  | { kind: "empty"; id: string; list: ListPath; index: number; label: string; x: number; y: number; width: number; height: number };

/** An edge between two placed things; `insert` is where a "+" on it puts a new step. */
export type Edge = { id: string; source: string; target: string; insert: { list: ListPath; index: number } | null; label?: string };

export type Layout = { width: number; height: number; nodes: Placed[]; edges: Edge[]; entry: string; exit: string };

type Block = Layout;

const cache = new Map<string, Block>();

/** Lays out the workflow's steps; `collapsed` names the containers drawn closed. */
export function layout(steps: Step[], collapsed: ReadonlySet<string> = new Set()): Layout {
  if (cache.size > 5000) cache.clear();
  return list(steps, { parent: null, field: "steps" }, collapsed, "Add the first step", true);
}

function shift(block: Block, dx: number, dy: number): Block {
  return {
    ...block,
    nodes: block.nodes.map((node) => ({ ...node, x: node.x + dx, y: node.y + dy })),
  };
}

/** A list of steps stacked downwards; with `end`, an "add a step" place after its last one. */
function list(steps: Step[], at: ListPath, collapsed: ReadonlySet<string>, emptyLabel: string, end = false): Block {
  if (steps.length === 0) {
    const id = `empty:${at.parent ?? "top"}:${at.field}:${at.branch ?? 0}`;
    return {
      width: EMPTY.width,
      height: EMPTY.height,
      nodes: [{ kind: "empty", id, list: at, index: 0, label: emptyLabel, x: 0, y: 0, ...EMPTY }],
      edges: [],
      entry: id,
      exit: id,
    };
  }
  const blocks = steps.map((step) => one(step, collapsed));
  const width = Math.max(...blocks.map((block) => block.width));
  const nodes: Placed[] = [];
  const edges: Edge[] = [];
  let y = 0;
  blocks.forEach((block, index) => {
    nodes.push(...shift(block, (width - block.width) / 2, y).nodes);
    edges.push(...block.edges);
    if (index > 0) {
      edges.push({
        id: `e:${blocks[index - 1].exit}->${block.entry}`,
        source: blocks[index - 1].exit,
        target: block.entry,
        insert: { list: at, index },
      });
    }
    y += block.height + GAP_Y;
  });
  let exit = blocks[blocks.length - 1].exit;
  if (end) {
    const id = `end:${at.parent ?? "top"}:${at.field}`;
    nodes.push({ kind: "empty", id, list: at, index: steps.length, label: "Add a step", x: (width - EMPTY.width) / 2, y, ...EMPTY });
    edges.push({ id: `e:${exit}->${id}`, source: exit, target: id, insert: null });
    exit = id;
    y += EMPTY.height + GAP_Y;
  }
  return { width, height: y - GAP_Y, nodes, edges, entry: blocks[0].entry, exit };
}

/** One step and what it holds. */
function one(step: Step, collapsed: ReadonlySet<string>): Block {
  const closed = collapsed.has(step.id);
  const key = `${closed ? "closed" : "open"}|${JSON.stringify(step)}`;
  const known = cache.get(key);
  if (known) return known;
  const lists = closed ? [] : childLists(step);
  let block: Block;
  if (lists.length === 0) {
    block = {
      width: CARD.width,
      height: CARD.height,
      nodes: [{ kind: "step", id: step.id, step, x: 0, y: 0, ...CARD, container: false }],
      edges: [],
      entry: step.id,
      exit: step.id,
    };
  } else if (step.type === "loop") {
    const body = list(listFor(step, lists[0]), lists[0], collapsed, "Add a step for each item", listFor(step, lists[0]).length > 0);
    const width = Math.max(CARD.width, body.width + 2 * PAD);
    const height = HEADER + body.height + 2 * PAD;
    const inner = shift(body, (width - body.width) / 2, HEADER + PAD);
    block = {
      width,
      height,
      nodes: [{ kind: "step", id: step.id, step, x: 0, y: 0, width, height, container: true }, ...inner.nodes],
      edges: inner.edges,
      entry: step.id,
      exit: step.id,
    };
  } else {
    const labels = step.type === "conditional" ? ["if true", "else"] : lists.map((_, index) => `branch ${index + 1}`);
    const branches = lists.map((at, index) => list(listFor(step, at), at, collapsed, `Add a step (${labels[index]})`));
    const spread = branches.reduce((sum, branch) => sum + branch.width, 0) + GAP_X * (branches.length - 1);
    const width = Math.max(CARD.width, spread);
    const tallest = Math.max(...branches.map((branch) => branch.height));
    const join = `join:${step.id}`;
    const nodes: Placed[] = [{ kind: "step", id: step.id, step, x: (width - CARD.width) / 2, y: 0, ...CARD, container: false }];
    const edges: Edge[] = [];
    let x = (width - spread) / 2;
    branches.forEach((branch, index) => {
      const placed = shift(branch, x, CARD.height + GAP_Y);
      nodes.push(...placed.nodes);
      edges.push(...placed.edges);
      edges.push({ id: `e:${step.id}->${branch.entry}`, source: step.id, target: branch.entry, insert: { list: lists[index], index: 0 }, label: labels[index] });
      const length = listFor(step, lists[index]).length;
      edges.push({ id: `e:${branch.exit}->${join}`, source: branch.exit, target: join, insert: length ? { list: lists[index], index: length } : null });
      x += branch.width + GAP_X;
    });
    const joinY = CARD.height + GAP_Y + tallest + GAP_Y;
    nodes.push({ kind: "join", id: join, x: (width - JOIN) / 2, y: joinY, width: JOIN, height: JOIN });
    block = { width, height: joinY + JOIN, nodes, edges, entry: step.id, exit: join };
  }
  cache.set(key, block);
  return block;
}
