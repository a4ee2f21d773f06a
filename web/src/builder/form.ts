// The step panel's form: the fields of an action's input JSON Schema in plain words, and the
// values of earlier steps a field can take ("data picker").
import { segments } from "../lib/jsonpath";
import { walk, type Step, type Workflow } from "./tree";

export type Field = {
  name: string;
  label: string;
  kind: "text" | "number" | "boolean" | "choice" | "json";
  required: boolean;
  help?: string;
  options?: string[];
  /** An expression (`order.total * 2`): values go in bare, without {{ }}. */
  expression?: boolean;
  /** What the service takes when the field is left empty. */
  default?: unknown;
  /** A value that fits, from the schema or the action's example. */
  example?: unknown;
};

type Schema = {
  type?: string | string[];
  default?: unknown;
  examples?: unknown[];
  enum?: unknown[];
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  anyOf?: Schema[];
  oneOf?: Schema[];
};

/** `thread_ts` → `Thread ts`. */
export function labelOf(name: string): string {
  const words = name.replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * The fields of an input schema, required ones first, with their defaults and an example (the
 * schema's own, else the action's `example` input).
 */
export function fieldsOf(schema: Schema | undefined, example?: Record<string, unknown>): Field[] {
  const properties = schema?.properties ?? {};
  const required = new Set(schema?.required ?? []);
  const fields = Object.entries(properties).map(([name, property]): Field => {
    const types = [property.type, ...(property.anyOf ?? property.oneOf ?? []).map((option) => option.type)]
      .flat()
      .filter((type): type is string => typeof type === "string" && type !== "null");
    const choices = property.enum ?? (property.anyOf ?? property.oneOf ?? []).flatMap((option) => option.enum ?? []);
    const kind: Field["kind"] =
      choices.length > 0
        ? "choice"
        : types.includes("string")
          ? "text"
          : types.includes("integer") || types.includes("number")
            ? "number"
            : types.includes("boolean")
              ? "boolean"
              : "json";
    return {
      name,
      label: labelOf(name),
      kind,
      required: required.has(name),
      help: property.description,
      options: choices.length ? choices.map(String) : undefined,
      default: property.default ?? undefined,
      example: property.examples?.[0] ?? example?.[name],
    };
  });
  return [...fields.filter((field) => field.required), ...fields.filter((field) => !field.required)];
}

export type Value = { reference: string; label: string };

type Output = Record<string, { properties?: Record<string, unknown> } | undefined>;

/**
 * What a step can read: the trigger, and each step that comes before `id` in the order a run
 * meets them, with the fields its output has (`outputs` holds integration actions' output
 * schemas by `service/action`; `ran`, the last run's outputs by step id, gives the fields of
 * results no schema describes).
 */
export function available(workflow: Workflow, id: string, outputs: Output, ran: Record<string, unknown> = {}): Value[] {
  const values: Value[] = [{ reference: "{{ trigger }}", label: "The trigger's data" }];
  for (const { step } of walk(workflow)) {
    if (step.id === id) break;
    let fields = fieldsOfOutput(step, outputs);
    // A result whose fields only a run tells (extracted JSON, a jq program's): the last run's.
    const result = ran[step.id];
    if (fields.length === 1 && fields[0] === "" && result && typeof result === "object" && !Array.isArray(result)) {
      fields = ["", ...Object.keys(result)];
    }
    for (const field of fields) {
      values.push({
        reference: field ? `{{ ${step.id}.${field} }}` : `{{ ${step.id} }}`,
        label: field ? `${step.id}: ${labelOf(field)}` : `${step.id}: its whole result`,
      });
    }
  }
  return values;
}

function fieldsOfOutput(step: Step, outputs: Output): string[] {
  switch (step.type) {
    case "integration":
      return Object.keys(outputs[`${String(step.service)}/${String(step.action)}`]?.properties ?? {});
    case "llm":
      return ["response", "json", ...answerFields(step.output_schema).map((field) => field.name)];
    case "agent":
      return ["response", "iterations", "tool_calls", "cost_usd"];
    case "transformation":
      if (step.action === "set") return Object.keys((step.inputs ?? {}) as object);
      return TRANSFORMATIONS[String(step.action)]?.gives ?? [""];
    case "approval":
      return ["approved", "comment"];
    default:
      return [""];
  }
}

/**
 * The API's problems (`$.steps[1].then[0].inputs.url`) by the step they are in: the deepest step
 * on each path; problems of the workflow itself under `""`.
 */
export function problemsByStep(workflow: Workflow, details: { path: string; message: string }[]): Record<string, string[]> {
  const found: Record<string, string[]> = {};
  for (const detail of details) {
    let node: unknown = workflow;
    let owner = "";
    let field = "";
    for (const key of segments(detail.path)) {
      node = node && typeof node === "object" ? (node as Record<string | number, unknown>)[key] : undefined;
      if (node && typeof node === "object" && !Array.isArray(node) && typeof (node as Step).id === "string" && typeof (node as Step).type === "string") {
        owner = (node as Step).id;
        field = "";
      } else if (typeof key === "string") {
        field = field ? `${field}.${key}` : key;
      }
    }
    (found[owner] ??= []).push(field ? `${field}: ${detail.message}` : detail.message);
  }
  return found;
}

/** A value as the last run left it, in a few words: `ann@customer.example`, `3 items`. */
export function sampleOf(value: unknown): string {
  if (typeof value === "string") return value.length > 40 ? `${value.slice(0, 39)}…` : value;
  if (Array.isArray(value)) return value.length === 1 ? "1 item" : `${value.length} items`;
  const text = JSON.stringify(value) ?? "nothing";
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

/**
 * The outputs of a run's completed steps by step id, leaving out loop items' steps
 * (`each[2].send`): what a later step reads by id.
 */
export function outputsOf(steps: { id: string; state: string; output?: unknown }[]): Record<string, unknown> {
  return Object.fromEntries(steps.filter((step) => step.state === "COMPLETED" && !step.id.includes("[")).map((step) => [step.id, step.output]));
}

/** The values with what the last run held at them (`outputs` by step id), for the picker to show. */
export function withSamples(values: Value[], outputs: Record<string, unknown>): (Value & { sample?: string })[] {
  return values.map((value) => {
    const [root, ...path] = value.reference.replace(/^\{\{\s*|\s*\}\}$/g, "").split(".");
    if (!(root in outputs)) return value;
    let found: unknown = outputs[root];
    for (const key of path) found = found && typeof found === "object" ? (found as Record<string, unknown>)[key] : undefined;
    return found === undefined ? value : { ...value, sample: sampleOf(found) };
  });
}

const items: Field = { name: "items", label: "The list", kind: "text", required: true, help: "A list from an earlier step, e.g. {{ search.messages }}" };
const timezone: Field = { name: "timezone", label: "Time zone", kind: "text", required: false, help: "e.g. Europe/Berlin; UTC when empty" };

/**
 * The data steps: what the palette calls each, the fields of its form, the inputs it starts
 * with, and the fields its result has (for the steps after it to read).
 */
export const TRANSFORMATIONS: Record<string, { label: string; fields: Field[]; start: Record<string, unknown>; gives: string[] }> = {
  template: {
    label: "Write text",
    fields: [{ name: "template", label: "Text to write", kind: "text", required: true, help: "Put values in with {{ }} or the list below." }],
    start: { template: "Hello from Baton" },
    gives: ["text"],
  },
  set: { label: "Set values", fields: [], start: { value: "{{ trigger }}" }, gives: [] },
  calculate: {
    label: "Calculate",
    fields: [{ name: "expression", label: "Calculation", kind: "text", required: true, help: "e.g. order.total * 1.2", expression: true }],
    start: { expression: "1 + 1" },
    gives: ["result"],
  },
  extract_json: {
    label: "Extract JSON from text",
    fields: [{ name: "text", label: "Text holding JSON", kind: "text", required: true, help: "e.g. an AI model's answer; its first JSON object's fields become the result" }],
    start: { text: "" },
    gives: [""],
  },
  filter: {
    label: "Keep the items that match",
    fields: [items, { name: "condition", label: "Keep an item when", kind: "text", required: true, help: "About each item, e.g. item.score > 80", expression: true }],
    start: { items: "", condition: "item" },
    gives: ["items"],
  },
  sort: {
    label: "Sort a list",
    fields: [items, { name: "by", label: "By the field", kind: "text", required: false }, { name: "order", label: "Order", kind: "choice", required: false, options: ["asc", "desc"] }],
    start: { items: "" },
    gives: ["items"],
  },
  deduplicate: {
    label: "Remove duplicates",
    fields: [items, { name: "by", label: "Same when this field is", kind: "text", required: false }],
    start: { items: "" },
    gives: ["items"],
  },
  split: {
    label: "Split text into a list",
    fields: [{ name: "text", label: "Text", kind: "text", required: true }, { name: "separator", label: "Separator", kind: "text", required: false, default: "," }],
    start: { text: "" },
    gives: ["items"],
  },
  join: {
    label: "Join a list into text",
    fields: [items, { name: "separator", label: "Separator", kind: "text", required: false, default: "," }],
    start: { items: "" },
    gives: ["text"],
  },
  parse_date: {
    label: "Read a date",
    fields: [{ name: "text", label: "Date as text", kind: "text", required: true }, { name: "format", label: "Its format", kind: "text", required: false, help: "strftime, e.g. %d/%m/%Y; RFC 3339 when empty" }, timezone],
    start: { text: "" },
    gives: ["iso", "unix", "date", "time"],
  },
  format_date: {
    label: "Format a date",
    fields: [{ name: "date", label: "Date", kind: "text", required: true, help: "RFC 3339 or unix seconds" }, { name: "format", label: "Format", kind: "text", required: true, help: "strftime, e.g. %A %d %B" }, timezone],
    start: { date: "", format: "%Y-%m-%d" },
    gives: ["text"],
  },
  jq: {
    label: "Transform with jq",
    fields: [{ name: "program", label: "jq program", kind: "text", required: true, help: "e.g. .items | map(.email)" }, { name: "data", label: "Data", kind: "json", required: false, help: "What the program reads; all the other inputs when empty" }],
    start: { program: "." },
    gives: [""],
  },
};

/** A field of an AI step's answer, as the builder offers it: the kinds a person can pick. */
export type AnswerField = { name: string; kind: AnswerKind; description: string };
export type AnswerKind = "text" | "number" | "whole number" | "yes/no" | "list of text";

export const ANSWER_KINDS: AnswerKind[] = ["text", "number", "whole number", "yes/no", "list of text"];

const KIND_SCHEMA: Record<AnswerKind, Record<string, unknown>> = {
  text: { type: "string" },
  number: { type: "number" },
  "whole number": { type: "integer" },
  "yes/no": { type: "boolean" },
  "list of text": { type: "array", items: { type: "string" } },
};

function kindOf(property: Record<string, unknown>): AnswerKind {
  switch (property.type) {
    case "number":
      return "number";
    case "integer":
      return "whole number";
    case "boolean":
      return "yes/no";
    case "array":
      return "list of text";
    default:
      return "text";
  }
}

/** The fields an AI step's `output_schema` asks for, in its order. */
export function answerFields(schema: unknown): AnswerField[] {
  const properties = (schema as { properties?: Record<string, Record<string, unknown>> } | undefined)?.properties ?? {};
  return Object.entries(properties).map(([name, property]) => ({
    name,
    kind: kindOf(property ?? {}),
    description: typeof property?.description === "string" ? property.description : "",
  }));
}

/**
 * The schema with `field` added (or replaced, by name): every field required, so each provider
 * can hold the model to it strictly. What a field's schema said beyond its kind is kept when the
 * kind stays the same.
 */
export function withAnswerField(schema: unknown, field: AnswerField): Record<string, unknown> {
  const current = (schema ?? {}) as { properties?: Record<string, Record<string, unknown>> };
  const before = current.properties?.[field.name];
  const kept = before && kindOf(before) === field.kind ? before : {};
  const property: Record<string, unknown> = { ...kept, ...KIND_SCHEMA[field.kind] };
  if (field.description) property.description = field.description;
  else delete property.description;
  const properties = { ...(current.properties ?? {}), [field.name]: property };
  return { ...current, type: "object", properties, required: Object.keys(properties) };
}

/** The schema without the field `name`; nothing when no field is left. */
export function withoutAnswerField(schema: unknown, name: string): Record<string, unknown> | undefined {
  const current = (schema ?? {}) as { properties?: Record<string, unknown>; required?: string[] };
  const properties = { ...(current.properties ?? {}) };
  delete properties[name];
  if (Object.keys(properties).length === 0) return undefined;
  return { ...current, properties, required: (current.required ?? []).filter((kept) => kept !== name) };
}

/** One tool of an agent step, as the builder edits it. */
export type AgentTool = { name?: string; service?: string; action?: string; workflow?: string; approval?: boolean; description?: string; inputs?: Record<string, unknown> };

/** The agent's tools with a connector action added, named after the action (made unique). */
export function withTool(tools: unknown, tool: { service: string; action: string; approval: boolean }): AgentTool[] {
  const current = Array.isArray(tools) ? (tools as AgentTool[]) : [];
  const taken = new Set(current.map((known) => known.name ?? known.action ?? known.workflow));
  let name = tool.action;
  for (let n = 2; taken.has(name); n += 1) name = `${tool.action}_${n}`;
  const added: AgentTool = { name, service: tool.service, action: tool.action };
  if (tool.approval) added.approval = true;
  return [...current, added];
}

/** The agent's tools without the one named `name`. */
export function withoutTool(tools: unknown, name: string): AgentTool[] {
  const current = Array.isArray(tools) ? (tools as AgentTool[]) : [];
  return current.filter((tool) => (tool.name ?? tool.action ?? tool.workflow) !== name);
}
