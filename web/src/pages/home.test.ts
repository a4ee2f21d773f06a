import { describe, expect, it } from "vitest";
import { summarize } from "./home";

const now = new Date(2026, 11, 10, 15, 0); // 10 December, 15:00 local time
const run = (state: string, daysAgo: number, cost = 0) => ({
  id: `${state}-${daysAgo}-${cost}`,
  workflow_id: "wf",
  state,
  cost_usd: String(cost),
  created_at: new Date(now.getTime() - daysAgo * 24 * 3600 * 1000).toISOString(),
});

describe("the home page's figures", () => {
  it("counts runs today and this week, and the success rate of finished ones", () => {
    const figures = summarize(
      [run("COMPLETED", 0), run("FAILED", 0), run("RUNNING", 0), run("COMPLETED", 3), run("COMPLETED", 8)],
      now,
    );
    expect(figures.today).toBe(3);
    expect(figures.week).toBe(4);
    expect(figures.successRate).toBe(67);
    expect(figures.failures.map((failure) => failure.state)).toEqual(["FAILED"]);
  });
  it("sums AI spend from the first of the month only", () => {
    const figures = summarize([run("COMPLETED", 1, 0.25), run("COMPLETED", 9, 0.5), run("COMPLETED", 12, 4)], now);
    expect(figures.spend).toBeCloseTo(0.75);
  });
  it("has no success rate before anything finished", () => {
    expect(summarize([run("RUNNING", 0)], now).successRate).toBeNull();
  });
});
