import { describe, expect, it } from "vitest";
import { lineOf, segments } from "./jsonpath";

const text = `{
  "id": "wf_lead",
  "name": "Leads",
  "steps": [
    {"id": "score", "type": "ai"},
    {
      "id": "post",
      "inputs": {
        "channel": "#sales"
      }
    }
  ]
}`;

describe("a problem's JSON path to a line", () => {
  it("reads paths with fields and indexes", () => {
    expect(segments("$.steps[1].inputs.channel")).toEqual(["steps", 1, "inputs", "channel"]);
    expect(segments('$["odd key"][0]')).toEqual(["odd key", 0]);
  });
  it("finds the line of a field, an array item and the document", () => {
    expect(lineOf(text, "$.name")).toBe(3);
    expect(lineOf(text, "$.steps[0]")).toBe(5);
    expect(lineOf(text, "$.steps[1].inputs.channel")).toBe(9);
    expect(lineOf(text, "$")).toBe(1);
  });
  it("falls back to the nearest part that exists", () => {
    expect(lineOf(text, "$.steps[1].inputs.missing")).toBe(8);
    expect(lineOf(text, "$.steps[0].prompt")).toBe(5);
  });
  it("answers nothing for text that is not JSON", () => {
    expect(lineOf("not json", "$.a")).toBeNull();
  });
});
