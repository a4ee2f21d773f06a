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
    expect(summarize({ id: "x", type: "transformation", action: "extract_json", inputs: { text: "{{ ask_ai.response }}" } })).toBe(
      "Extract JSON from {{ask_ai.response}}",
    );
    expect(summarize({ id: "f", type: "transformation", action: "filter", inputs: { items: "{{ leads.items }}", condition: "item.score > 80" } })).toBe(
      "Keep the items of {{leads.items}} where item.score > 80",
    );
    expect(summarize({ id: "o", type: "transformation", action: "sort", inputs: { items: "{{ leads.items }}", by: "score" } })).toBe("Sort {{leads.items}} by score");
  });

  it("shortens long prompts", () => {
    const said = summarize({ id: "t", type: "transformation", action: "template", inputs: { template: "x".repeat(200) } });
    expect(said.length).toBeLessThan(60);
    expect(said).toContain("…");
  });
});
