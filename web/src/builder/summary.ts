// Each step in a sentence, from its settings: what a person reads on its card.
import type { Step } from "./tree";

const words = (text: string) => text.replaceAll("_", " ");

/** How services are written where their id is not their name. */
const SERVICES: Record<string, string> = { http: "HTTP", hubspot: "HubSpot", openai: "OpenAI" };

/** `{{ trigger.from }}` → `{{trigger.from}}`, long text shortened. */
function quote(value: unknown, length = 40): string {
  const text = typeof value === "string" ? value.replace(/\{\{\s*([^}]+?)\s*\}\}/g, "{{$1}}") : JSON.stringify(value);
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

export function summarize(step: Step): string {
  const inputs = (step.inputs ?? {}) as Record<string, unknown>;
  switch (step.type) {
    case "llm":
      return `Ask ${String(step.provider ?? "an AI model")} (${String(step.model ?? "its default model")}): “${quote(step.prompt ?? inputs.prompt ?? "")}”`;
    case "integration": {
      const target = inputs.to ?? inputs.channel ?? inputs.email ?? inputs.url;
      const action = words(String(step.action ?? "call"));
      const service = SERVICES[String(step.service)] ?? String(step.service ?? "a service").replace(/^./, (first) => first.toUpperCase());
      return `${action.charAt(0).toUpperCase()}${action.slice(1)} in ${service}${target !== undefined ? ` to ${quote(target, 30)}` : ""}`;
    }
    case "transformation":
      switch (step.action) {
        case "template":
          return `Write “${quote(inputs.template ?? "")}”`;
        case "calculate":
          return `Calculate ${quote(inputs.expression ?? "")}`;
        case "set":
          return Object.keys(inputs).length ? `Set ${Object.keys(inputs).join(", ")}` : "Set values";
        case "extract_json":
          return `Extract JSON from ${quote(inputs.text ?? "")}`;
        case "filter":
          return `Keep the items of ${quote(inputs.items ?? "", 24)} where ${quote(inputs.condition ?? "", 24)}`;
        case "sort":
          return `Sort ${quote(inputs.items ?? "")}${inputs.by ? ` by ${String(inputs.by)}` : ""}`;
        case "deduplicate":
          return `Remove duplicates from ${quote(inputs.items ?? "")}`;
        case "split":
          return `Split ${quote(inputs.text ?? "")} into a list`;
        case "join":
          return `Join ${quote(inputs.items ?? "")} into text`;
        case "parse_date":
          return `Read the date ${quote(inputs.text ?? "")}`;
        case "format_date":
          return `Format the date ${quote(inputs.date ?? "")}`;
        case "jq":
          return `Transform with jq: ${quote(inputs.program ?? "")}`;
        default:
          return `${words(String(step.action ?? "transform"))} the data`;
      }
    case "conditional":
      return `If ${quote(step.condition ?? "")}`;
    case "loop":
      return `For each item in ${quote(step.items ?? "")}`;
    case "parallel":
      return `${((step.branches as unknown[]) ?? []).length} branches at the same time`;
    case "approval":
      return `Ask a person: “${quote(step.message ?? "")}”`;
    case "delay":
      return step.until ? `Wait until ${quote(step.until)}` : `Wait ${String(step.duration ?? "")}`;
    case "agent": {
      const tools = Array.isArray(step.tools) ? (step.tools as { name?: string; action?: string; workflow?: string }[]) : [];
      const names = tools.map((tool) => tool.name ?? tool.action ?? tool.workflow ?? "a tool");
      return `AI agent (${String(step.model ?? "its default model")}) with ${names.length ? names.join(", ") : "no tools yet"}: “${quote(step.prompt ?? "")}”`;
    }
    case "sub_workflow":
      return `Run the workflow ${String(step.workflow ?? step.workflow_id ?? "")}`;
    default:
      return words(step.type);
  }
}

/** The group a step belongs to in the palette and the badge on its card. */
export function kindOf(step: Pick<Step, "type">): "ai" | "apps" | "data" | "logic" | "people" {
  switch (step.type) {
    case "llm":
    case "agent":
      return "ai";
    case "integration":
      return "apps";
    case "transformation":
      return "data";
    case "approval":
    case "delay":
      return "people";
    default:
      return "logic";
  }
}
