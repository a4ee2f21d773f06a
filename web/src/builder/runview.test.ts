import { describe, expect, it } from "vitest";
import { loopCounts, measures, stepViews } from "./runview";

const steps = [
  { id: "fetch", state: "COMPLETED", duration_ms: 1200, usage: { input_tokens: 100, output_tokens: 50 }, cost_usd: 0.0004 },
  { id: "each[0].send", state: "COMPLETED", duration_ms: 30 },
  { id: "each[1].send", state: "FAILED", duration_ms: 40 },
  { id: "each[2].send", state: "COMPLETED", duration_ms: 50 },
  { id: "each[2].inner[0].note", state: "COMPLETED" },
  { id: "each[2].inner[1].note", state: "SKIPPED" },
  { id: "each", state: "FAILED" },
];

describe("a run on the canvas", () => {
  it("counts each loop's items, nested ones too", () => {
    expect(loopCounts(steps)).toEqual({ each: 3, inner: 2 });
  });

  it("shows the latest item unless one is chosen", () => {
    expect(stepViews(steps).send.state).toBe("COMPLETED");
    expect(stepViews(steps, { each: 1 }).send.state).toBe("FAILED");
    expect(stepViews(steps, { each: 2, inner: 0 }).note.state).toBe("COMPLETED");
    expect(stepViews(steps, { each: 0 }).note).toBeUndefined();
    expect(stepViews(steps, { each: 1 }).each.state).toBe("FAILED");
  });

  it("says what a step took", () => {
    expect(measures(stepViews(steps).fetch)).toBe("1.2 s · 150 tokens · $0.0004");
    expect(measures(stepViews(steps, { each: 0 }).send)).toBe("30 ms");
    expect(measures(undefined)).toBe("");
  });
});
