import { describe, expect, it } from "vitest";
import { CARD, layout, type Placed } from "./layout";
import type { Step } from "./tree";

const leaf = (id: string): Step => ({ id, type: "transformation", action: "set", inputs: {} });

function overlaps(a: Placed, b: Placed) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** Whether b lies wholly inside a. */
function contains(a: Placed, b: Placed) {
  return b.x >= a.x && b.y >= a.y && b.x + b.width <= a.x + a.width && b.y + b.height <= a.y + a.height;
}

function noOverlaps(nodes: Placed[]) {
  const problems: string[] = [];
  for (const a of nodes)
    for (const b of nodes) {
      if (a === b || !overlaps(a, b)) continue;
      const boxed = (outer: Placed, inner: Placed) => outer.kind === "step" && outer.container && contains(outer, inner);
      if (!boxed(a, b) && !boxed(b, a)) problems.push(`${a.id} overlaps ${b.id}`);
    }
  return problems;
}

const at = (nodes: Placed[], id: string) => nodes.find((node) => node.id === id)!;

describe("layout", () => {
  it("stacks a sequence downwards, centred, with a + between steps and a place to add at the end", () => {
    const shown = layout([leaf("a"), leaf("b"), leaf("c")]);
    const [a, b, c] = ["a", "b", "c"].map((id) => at(shown.nodes, id));
    expect(a.y).toBeLessThan(b.y);
    expect(b.y).toBeLessThan(c.y);
    expect(a.x).toBe(b.x);
    expect(shown.edges.filter((edge) => edge.insert).map((edge) => edge.insert!.index)).toEqual([1, 2]);
    const end = shown.nodes.find((node) => node.kind === "empty" && node.label === "Add a step");
    expect(end?.kind === "empty" && end.index).toBe(3); // appends after the last step
    expect(noOverlaps(shown.nodes)).toEqual([]);
  });

  it("puts a conditional's branches side by side and joins them under the taller", () => {
    const shown = layout([
      { id: "hot", type: "conditional", condition: "true", then: [leaf("t1"), leaf("t2"), leaf("t3")], else: [leaf("e1")] },
      leaf("after"),
    ]);
    const [t1, e1, join, after, hot] = ["t1", "e1", "join:hot", "after", "hot"].map((id) => at(shown.nodes, id));
    expect(t1.y).toBe(e1.y);
    expect(t1.x + t1.width).toBeLessThanOrEqual(e1.x);
    expect(join.y).toBeGreaterThan(at(shown.nodes, "t3").y + CARD.height);
    expect(after.y).toBeGreaterThan(join.y);
    expect(hot.x + hot.width / 2).toBeCloseTo(join.x + join.width / 2);
    const labels = shown.edges.filter((edge) => edge.source === "hot").map((edge) => edge.label);
    expect(labels).toEqual(["if true", "else"]);
    expect(noOverlaps(shown.nodes)).toEqual([]);
  });

  it("draws an empty branch as a place to add a step", () => {
    const shown = layout([{ id: "hot", type: "conditional", condition: "true", then: [leaf("t1")], else: [] }]);
    const empty = shown.nodes.find((node) => node.kind === "empty" && node.label === "Add a step (else)");
    expect(empty).toBeDefined();
    expect(empty?.kind === "empty" && empty.list).toEqual({ parent: "hot", field: "else" });
  });

  it("boxes a loop's steps inside it, nested loops and parallels too, without overlaps", () => {
    const shown = layout([
      {
        id: "each",
        type: "loop",
        items: "trigger.rows",
        steps: [
          leaf("a"),
          { id: "inner", type: "loop", items: "item.lines", steps: [leaf("b")] },
          { id: "both", type: "parallel", branches: [[leaf("p1")], [leaf("p2")], [leaf("p3")]] },
        ],
      },
    ]);
    const each = at(shown.nodes, "each");
    for (const id of ["a", "inner", "b", "both", "p1", "p2", "p3"]) expect(contains(each, at(shown.nodes, id))).toBe(true);
    expect(contains(at(shown.nodes, "inner"), at(shown.nodes, "b"))).toBe(true);
    expect(noOverlaps(shown.nodes)).toEqual([]);
  });

  it("draws a collapsed container as one card", () => {
    const loop: Step = { id: "each", type: "loop", items: "trigger.rows", steps: [leaf("a"), leaf("b")] };
    const shown = layout([loop], new Set(["each"]));
    expect(shown.nodes.map((node) => node.id)).toEqual(["each", "end:top:steps"]);
  });

  it("lays out 500 steps in loops, each inside its own box", () => {
    const many: Step[] = Array.from({ length: 50 }, (_, n) => ({
      id: `loop${n}`,
      type: "loop",
      items: "trigger.rows",
      steps: Array.from({ length: 9 }, (_, m) => leaf(`s${n}_${m}`)),
    }));
    const shown = layout(many);
    expect(shown.nodes.filter((node) => node.kind === "step")).toHaveLength(500);
    expect(contains(at(shown.nodes, "loop49"), at(shown.nodes, "s49_8"))).toBe(true);
    expect(noOverlaps(shown.nodes.filter((node) => node.kind === "step" && node.container))).toEqual([]);
  });
});
