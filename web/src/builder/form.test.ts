import { describe, expect, it } from "vitest";
import { available, fieldsOf, problemsByStep } from "./form";

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
        limit: { type: "integer" },
      },
    });
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
