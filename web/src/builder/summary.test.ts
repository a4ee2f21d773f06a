import { describe, expect, it } from "vitest";
import { summarize } from "./summary";

describe("summarize", () => {
  it("says what each kind of step does", () => {
    expect(summarize({ id: "d", type: "integration", service: "gmail", action: "create_draft", inputs: { to: "{{ trigger.from }}" } })).toBe(
      "Create draft in Gmail to {{trigger.from}}",
    );
    expect(summarize({ id: "a", type: "llm", provider: "openai", model: "gpt-4o-mini", prompt: "Draft a reply to {{ trigger.body }}" })).toBe(
      "Ask openai (gpt-4o-mini): “Draft a reply to {{trigger.body}}”",
    );
    expect(summarize({ id: "h", type: "integration", service: "http", action: "request", inputs: { url: "https://x.test" } })).toBe(
      "Request in HTTP to https://x.test",
    );
    expect(summarize({ id: "c", type: "conditional", condition: "score.value > 7" })).toBe("If score.value > 7");
    expect(summarize({ id: "l", type: "loop", items: "trigger.rows" })).toBe("For each item in trigger.rows");
    expect(summarize({ id: "p", type: "approval", message: "Refund {{ trigger.amount }}?" })).toBe("Ask a person: “Refund {{trigger.amount}}?”");
    expect(summarize({ id: "w", type: "delay", duration: "1h" })).toBe("Wait 1h");
    expect(summarize({ id: "s", type: "transformation", action: "set", inputs: { qty: 1, price: 2 } })).toBe("Set qty, price");
  });

  it("shortens long prompts", () => {
    const said = summarize({ id: "t", type: "transformation", action: "template", inputs: { template: "x".repeat(200) } });
    expect(said.length).toBeLessThan(60);
    expect(said).toContain("…");
  });
});
