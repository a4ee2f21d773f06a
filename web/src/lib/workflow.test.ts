import { describe, expect, it } from "vitest";
import { describeChanges, describeNotify, describeTrigger, notifySettings } from "./workflow";

const base = {
  id: "wf_leads",
  name: "Score leads",
  trigger: { type: "webhook" },
  steps: [
    { id: "score", type: "llm", inputs: { prompt: "Score {{ trigger.name }}" } },
    {
      id: "hot",
      type: "conditional",
      condition: "score.value > 7",
      then: [{ id: "post", type: "integration", service: "slack", action: "post_message", inputs: { text: "Hot" } }],
      else: [],
    },
    { id: "log", type: "transformation", action: "set", inputs: {} },
  ],
};

const copy = () => JSON.parse(JSON.stringify(base));

describe("describeTrigger", () => {
  it("says what starts each kind of workflow", () => {
    expect(describeTrigger(undefined)).toBe("By hand or from the API");
    expect(describeTrigger({ type: "schedule", cron: "0 9 * * MON-FRI", timezone: "Europe/Berlin" })).toBe(
      "On a schedule (0 9 * * MON-FRI, Europe/Berlin)",
    );
    expect(describeTrigger({ type: "poll", service: "gmail", event: "new_email" })).toBe("When gmail has new email");
  });
});

describe("describeChanges", () => {
  it("finds nothing between equal versions", () => {
    expect(describeChanges(base, copy())).toEqual([]);
  });

  it("names a renamed workflow and a changed trigger", () => {
    const after = copy();
    after.name = "Score every lead";
    after.trigger = { type: "schedule", cron: "*/5 * * * *" };
    expect(describeChanges(base, after)).toEqual([
      'Renamed from "Score leads" to "Score every lead".',
      "Now starts on a schedule (*/5 * * * *) (was: when its webhook URL is called).",
    ]);
  });

  it("names steps added, removed and changed, inside branches too", () => {
    const after = copy();
    after.steps[1].then[0].inputs.text = "Hot lead!";
    after.steps[1].else.push({ id: "cold", type: "delay", duration: "1h" });
    after.steps.pop();
    expect(describeChanges(base, after)).toEqual([
      'Added step "cold" (delay) in "else" of "hot".',
      'Removed step "log" from the main path.',
      'Step "post": inputs.text changed from "Hot" to "Hot lead!".',
    ]);
  });

  it("names a step moved, not the ones it passed", () => {
    const after = copy();
    after.steps = [after.steps[2], after.steps[0], after.steps[1]];
    expect(describeChanges(base, after)).toEqual(['Moved step "log" to another place in the main path.']);
    const nested = copy();
    nested.steps[1].else.push(nested.steps.pop());
    expect(describeChanges(base, nested)).toEqual(['Moved step "log" from the main path to "else" of "hot".']);
  });

  it("shortens long values", () => {
    const after = copy();
    after.steps[0].inputs.prompt = "x".repeat(200);
    const [change] = describeChanges(base, after);
    expect(change.length).toBeLessThan(160);
    expect(change).toContain("…");
  });
});

describe("notifications", () => {
  it("keep only what differs from the default", () => {
    expect(notifySettings("immediately", "", "", "")).toBe("");
    expect(notifySettings("hourly", "ops@example.com, boss@example.com", " #ops ", "alerts")).toEqual({
      when: "hourly",
      emails: ["ops@example.com", "boss@example.com"],
      slack_channel: "#ops",
      slack_credential: "alerts",
    });
    expect(notifySettings("immediately", "", "", "alerts")).toBe("");
  });

  it("say who hears of a failure", () => {
    expect(describeNotify({})).toBe("When a run fails or waits for approval, its owner hears of it at once.");
    expect(describeNotify({ when: "hourly", emails: ["ops@example.com"], slack_channel: "#ops" })).toBe(
      "When a run fails or waits for approval, its owner, ops@example.com and Slack #ops hear of it in an hourly digest.",
    );
    expect(describeNotify({ when: "never", emails: ["ops@example.com"] })).toBe("Nobody is told when a run fails.");
  });
});
