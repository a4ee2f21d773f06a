import { describe, expect, it } from "vitest";
import { notesOf, timeline, whatToTry } from "./timeline";

const step = (id: string, state = "COMPLETED") => ({ id, state, error: null, duration_ms: 5 });

describe("timeline", () => {
  it("groups a loop's items under it, in item order, nested loops inside their items", () => {
    const entries = timeline([
      step("fetch"),
      step("each[1].send", "FAILED"),
      step("each[0].send"),
      step("each[0].log"),
      step("each"),
      step("each[1].inner[0].x"),
      step("done", "PENDING"),
    ]);
    expect(entries.map((entry) => [entry.kind, entry.name])).toEqual([
      ["step", "fetch"],
      ["loop", "each"],
      ["step", "done"],
    ]);
    const loop = entries[1];
    if (loop.kind !== "loop") throw new Error("not a loop");
    expect(loop.step?.id).toBe("each");
    expect(loop.items.map((item) => [item.index, item.state])).toEqual([
      [0, "COMPLETED"],
      [1, "FAILED"],
    ]);
    expect(loop.items[0].steps.map((entry) => entry.name)).toEqual(["send", "log"]);
    const nested = loop.items[1].steps[1];
    expect(nested.kind).toBe("loop");
    if (nested.kind === "loop") expect(nested.items[0].steps[0].name).toBe("x");
  });

  it("keeps a thousand items without losing one", () => {
    const steps = Array.from({ length: 1000 }, (_, index) => step(`each[${index}].send`));
    const [loop] = timeline(steps);
    expect(loop.kind === "loop" && loop.items.length).toBe(1000);
    expect(loop.kind === "loop" && loop.items[999].index).toBe(999);
  });
});

describe("whatToTry", () => {
  it("says what to do for each kind of failure", () => {
    expect(whatToTry(null)).toBeNull();
    expect(whatToTry({ class: "permanent", message: "openai answered 401: invalid api key" })).toContain("Integrations");
    expect(whatToTry({ class: "transient", message: "slack answered 429" })).toContain("slow down");
    expect(whatToTry({ class: "permanent", message: "`trigger.price` refers to nothing" })).toContain("input");
    expect(whatToTry({ class: "permanent", message: "the AI budget of $5.00 for this month is spent" })).toContain("Settings");
    expect(whatToTry({ class: "transient", message: "connection reset" })).toBe("This looks temporary. Retry the run.");
    expect(whatToTry({ class: "permanent", message: "bad value" })).toContain("resume from the failed step");
  });
});

describe("notesOf", () => {
  it("says what happened on the way to a model's answer", () => {
    expect(
      notesOf({
        response: "Dear Ann",
        notes: ["openai/gpt-4o: openai has failed 5 times in a row (circuit open until 10:42:05 UTC)", "answered by anthropic/claude-sonnet-4-5"],
        repaired: ['$: "draft" is a required property'],
      }),
    ).toEqual([
      "openai/gpt-4o: openai has failed 5 times in a row (circuit open until 10:42:05 UTC)",
      "answered by anthropic/claude-sonnet-4-5",
      'asked again for the answer\'s shape: $: "draft" is a required property',
    ]);
    expect(notesOf({ draft_id: "r-1" })).toEqual([]);
    expect(notesOf(["a list"])).toEqual([]);
    expect(notesOf(null)).toEqual([]);
  });
});
