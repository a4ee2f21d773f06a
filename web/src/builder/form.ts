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
 * schemas by `service/action`).
 */
export function available(workflow: Workflow, id: string, outputs: Output): Value[] {
  const values: Value[] = [{ reference: "{{ trigger }}", label: "The trigger's data" }];
  for (const { step } of walk(workflow)) {
    if (step.id === id) break;
    for (const field of fieldsOfOutput(step, outputs)) {
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
      return ["response", "json"];
    case "transformation":
      if (step.action === "template") return ["text"];
      if (step.action === "calculate") return ["result"];
      if (step.action === "set") return Object.keys((step.inputs ?? {}) as object);
      return [""];
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
 * The values with what the last run's steps (`{id, state, output}`, a loop item's step as
 * `each[2].send`) held at them, for the picker to show.
 */
export function withSamples(values: Value[], steps: { id: string; state: string; output?: unknown }[]): (Value & { sample?: string })[] {
  const outputs = new Map(steps.filter((step) => step.state === "COMPLETED" && !step.id.includes("[")).map((step) => [step.id, step.output]));
  return values.map((value) => {
    const [root, ...path] = value.reference.replace(/^\{\{\s*|\s*\}\}$/g, "").split(".");
    if (!outputs.has(root)) return value;
    let found: unknown = outputs.get(root);
    for (const key of path) found = found && typeof found === "object" ? (found as Record<string, unknown>)[key] : undefined;
    return found === undefined ? value : { ...value, sample: sampleOf(found) };
  });
}
