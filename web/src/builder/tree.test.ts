import { describe, expect, it } from "vitest";
import { find, freeId, insert, move, remove, replaceStep, walk, type Workflow } from "./tree";

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
