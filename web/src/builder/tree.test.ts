import { describe, expect, it } from "vitest";
import { find, freeId, insert, move, pasted, remove, replaceStep, walk, type Workflow } from "./tree";

const leaf = (id: string) => ({ id, type: "transformation", action: "set", inputs: {} });
const base = (): Workflow => ({
  id: "wf",
  name: "W",
  steps: [leaf("a"), { id: "hot", type: "conditional", condition: "true", then: [leaf("t")], else: [] }, leaf("z")],
});

describe("tree edits", () => {
  it("inserts into any list and leaves the original untouched", () => {
    const before = base();
    const after = insert(before, { parent: "hot", field: "else" }, 0, leaf("e"));
    expect(find(after, "e")?.list).toEqual({ parent: "hot", field: "else" });
    expect(find(before, "e")).toBeUndefined();
    expect(() => insert(after, { parent: null, field: "steps" }, 0, leaf("e"))).toThrow(/already/);
  });

  it("removes a step with what it holds", () => {
    const after = remove(base(), "hot");
    expect(walk(after).map((placed) => placed.step.id)).toEqual(["a", "z"]);
  });

  it("moves a step within its list and into a branch, never inside itself", () => {
    expect(walk(move(base(), "a", { parent: null, field: "steps" }, 3)).map((p) => p.step.id)).toEqual(["hot", "t", "z", "a"]);
    const moved = move(base(), "z", { parent: "hot", field: "then" }, 0);
    expect(find(moved, "z")?.list.parent).toBe("hot");
    expect(() => move(base(), "hot", { parent: "hot", field: "else" }, 0)).toThrow(/inside itself/);
  });

  it("replaces a step and finds free ids", () => {
    const after = replaceStep(base(), "a", { ...leaf("a"), inputs: { x: 1 } });
    expect(find(after, "a")?.step.inputs).toEqual({ x: 1 });
    expect(freeId(base(), "a")).toBe("a_2");
    expect(freeId(base(), "new")).toBe("new");
  });
});

describe("pasted", () => {
  it("takes a step, a list or a workflow, and renames ids already taken", () => {
    expect(pasted(base(), JSON.stringify(leaf("new"))).map((step) => step.id)).toEqual(["new"]);
    const copy = pasted(base(), JSON.stringify({ id: "hot", type: "conditional", condition: "x", then: [leaf("t")], else: [] }));
    expect(copy[0].id).toBe("hot_2");
    expect((copy[0].then as { id: string }[])[0].id).toBe("t_2");
    expect(pasted(base(), JSON.stringify({ id: "wf", name: "W", steps: [leaf("a"), leaf("a")] })).map((step) => step.id)).toEqual(["a_2", "a_3"]);
    expect(() => pasted(base(), '{"name": "not a step"}')).toThrow(/not a step/);
  });
});
