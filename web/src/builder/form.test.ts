import { describe, expect, it } from "vitest";
import { answerFields, available, fieldsOf, outputsOf, problemsByStep, withAnswerField, withSamples, withTool, withoutAnswerField, withoutTool } from "./form";

describe("fieldsOf", () => {
  it("turns an input schema into labelled fields, required first", () => {
    const fields = fieldsOf({
      type: "object",
      required: ["channel", "text"],
      properties: {
        thread_ts: { anyOf: [{ type: "string" }, { type: "null" }], description: "Reply in this thread" },
        channel: { type: "string", description: "A channel id or #name" },
        text: { type: "string" },
        unfurl: { type: "boolean" },
        mode: { enum: ["plain", "markdown"] },
        limit: { type: "integer", default: 20 },
      },
    }, { channel: "#sales", limit: 5 });
    expect(fields.map((field) => [field.name, field.label, field.kind, field.required])).toEqual([
      ["channel", "Channel", "text", true],
      ["text", "Text", "text", true],
      ["thread_ts", "Thread ts", "text", false],
      ["unfurl", "Unfurl", "boolean", false],
      ["mode", "Mode", "choice", false],
      ["limit", "Limit", "number", false],
    ]);
    expect(fields[0].help).toBe("A channel id or #name");
    expect(fields[4].options).toEqual(["plain", "markdown"]);
    expect([fields[0].example, fields[1].example]).toEqual(["#sales", undefined]);
    expect([fields[5].default, fields[5].example]).toEqual([20, 5]);
  });
});

describe("available", () => {
  it("offers the trigger and the fields of the steps before, not after", () => {
    const workflow = {
      id: "wf",
      name: "W",
      steps: [
        { id: "read", type: "integration", service: "gmail", action: "get_message" },
        { id: "draft", type: "llm", provider: "openai", model: "gpt-4o-mini", prompt: "x" },
        { id: "save", type: "integration", service: "gmail", action: "create_draft" },
        { id: "later", type: "transformation", action: "set", inputs: { a: 1 } },
      ],
    };
    const outputs = { "gmail/get_message": { properties: { from: {}, subject: {} } } };
    expect(available(workflow, "save", outputs).map((value) => value.reference)).toEqual([
      "{{ trigger }}",
      "{{ read.from }}",
      "{{ read.subject }}",
      "{{ draft.response }}",
      "{{ draft.json }}",
    ]);
  });
});

describe("problemsByStep", () => {
  it("puts each problem on the deepest step of its path", () => {
    const workflow = {
      id: "wf",
      name: "W",
      steps: [
        { id: "hot", type: "conditional", condition: "x", then: [{ id: "post", type: "integration", inputs: { text: "" } }], else: [] },
      ],
    };
    expect(
      problemsByStep(workflow, [
        { path: "$.steps[0].then[0].inputs.text", message: "must not be empty" },
        { path: "$.steps[0].condition", message: "is not an expression" },
        { path: "$.name", message: "is required" },
      ]),
    ).toEqual({ post: ["inputs.text: must not be empty"], hot: ["condition: is not an expression"], "": ["name: is required"] });
  });
});

describe("withSamples", () => {
  it("shows what the last run held at each value, leaving loop items and failed steps out", () => {
    const values = [
      { reference: "{{ read_email.from }}", label: "read_email: From" },
      { reference: "{{ read_email.labels }}", label: "read_email: Labels" },
      { reference: "{{ ask_ai.response }}", label: "ask_ai: Response" },
      { reference: "{{ send }}", label: "send: its whole result" },
      { reference: "{{ trigger }}", label: "The trigger's data" },
    ];
    const steps = [
      { id: "read_email", state: "COMPLETED", output: { from: "ann@customer.example", labels: ["INBOX", "UNREAD"] } },
      { id: "ask_ai", state: "COMPLETED", output: { response: "x".repeat(100) } },
      { id: "each[0].send", state: "COMPLETED", output: { ok: true } },
      { id: "send", state: "FAILED" },
    ];
    expect(withSamples(values, outputsOf(steps)).map((value) => value.sample)).toEqual([
      "ann@customer.example",
      "2 items",
      `${"x".repeat(39)}…`,
      undefined,
      undefined,
    ]);
  });
});

describe("available, after a run", () => {
  it("offers the fields a run found in results no schema describes", () => {
    const workflow = {
      id: "wf",
      name: "W",
      steps: [
        { id: "extract", type: "transformation", action: "extract_json", inputs: { text: "{{ trigger.text }}" } },
        { id: "save", type: "transformation", action: "template", inputs: { template: "x" } },
      ],
    };
    expect(available(workflow, "save", {}).map((value) => value.reference)).toEqual(["{{ trigger }}", "{{ extract }}"]);
    expect(available(workflow, "save", {}, { extract: { reply: "Dear Ann", tone: "kind" } }).map((value) => value.label)).toEqual([
      "The trigger's data",
      "extract: its whole result",
      "extract: Reply",
      "extract: Tone",
    ]);
  });
});

describe("an AI step's answer fields", () => {
  it("make an output schema with every field required, and read back", () => {
    let schema = withAnswerField(undefined, { name: "reply", kind: "text", description: "the reply to send" });
    schema = withAnswerField(schema, { name: "urgent", kind: "yes/no", description: "" });
    expect(schema).toEqual({
      type: "object",
      properties: { reply: { type: "string", description: "the reply to send" }, urgent: { type: "boolean" } },
      required: ["reply", "urgent"],
    });
    expect(answerFields(schema)).toEqual([
      { name: "reply", kind: "text", description: "the reply to send" },
      { name: "urgent", kind: "yes/no", description: "" },
    ]);
    // A field changed keeps what its schema said beyond its kind while the kind stays.
    const bounded = { type: "object", properties: { score: { type: "integer", minimum: 0, maximum: 100 } }, required: ["score"] };
    expect(withAnswerField(bounded, { name: "score", kind: "whole number", description: "0 to 100" }).properties).toEqual({
      score: { type: "integer", minimum: 0, maximum: 100, description: "0 to 100" },
    });
    expect(withAnswerField(bounded, { name: "score", kind: "text", description: "" }).properties).toEqual({ score: { type: "string" } });
    expect(withoutAnswerField(schema, "urgent")).toEqual({ type: "object", properties: { reply: { type: "string", description: "the reply to send" } }, required: ["reply"] });
    expect(withoutAnswerField(withoutAnswerField(schema, "urgent"), "reply")).toBeUndefined();
  });

  it("are offered to later steps by name", () => {
    const workflow = {
      id: "wf",
      name: "W",
      steps: [
        { id: "ask", type: "llm", model: "gpt-4o-mini", prompt: "Hi", output_schema: withAnswerField(undefined, { name: "reply", kind: "text", description: "" }) },
        { id: "save", type: "transformation", action: "template", inputs: { template: "x" } },
      ],
    };
    expect(available(workflow, "save", {}).map((value) => value.label)).toEqual(["The trigger's data", "ask: Response", "ask: Json", "ask: Reply"]);
  });
});

describe("an agent's tools", () => {
  it("are added by action with a free name, asked about when chosen, and removed by name", () => {
    let tools = withTool(undefined, { service: "hubspot", action: "search_records", approval: false });
    tools = withTool(tools, { service: "slack", action: "post_message", approval: true });
    tools = withTool(tools, { service: "hubspot", action: "search_records", approval: false });
    expect(tools).toEqual([
      { name: "search_records", service: "hubspot", action: "search_records" },
      { name: "post_message", service: "slack", action: "post_message", approval: true },
      { name: "search_records_2", service: "hubspot", action: "search_records" },
    ]);
    expect(withoutTool(tools, "post_message").map((tool) => tool.name)).toEqual(["search_records", "search_records_2"]);
  });
});
