// Workflows in words: what starts one, and what changed between two of its versions.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Node = { [key: string]: Json };

/** What starts a workflow, as a person would say it. */
export function describeTrigger(trigger: unknown): string {
  const t = (trigger ?? { type: "manual" }) as Node;
  switch (t.type) {
    case "schedule":
      return `On a schedule (${String(t.cron)}${t.timezone ? `, ${String(t.timezone)}` : ""})`;
    case "webhook":
      return "When its webhook URL is called";
    case "poll":
      return `When ${String(t.service)} has ${String(t.event).replaceAll("_", " ")}`;
    default:
      return "By hand or from the API";
  }
}

/** The fields of a step that hold other steps, not settings. */
const NESTED = ["then", "else", "steps", "branches"];

type Placed = { step: Node; where: string };

/** Every step of a workflow by id, inside branches and loops too, with where it sits. */
function stepsOf(list: Json | undefined, where: string, into: Map<string, Placed>) {
  if (!Array.isArray(list)) return into;
  for (const item of list) {
    if (!item || typeof item !== "object" || Array.isArray(item)) continue;
    const step = item as Node;
    const id = String(step.id ?? "?");
    into.set(id, { step, where });
    for (const field of NESTED) {
      const nested = step[field];
      if (field === "branches" && Array.isArray(nested)) {
        nested.forEach((branch, index) => stepsOf(branch, `branch ${index + 1} of "${id}"`, into));
      } else {
        stepsOf(nested, `"${field}" of "${id}"`, into);
      }
    }
    const onError = step.on_error;
    if (onError && typeof onError === "object" && !Array.isArray(onError)) {
      stepsOf((onError as Node).fallback, `the fallback of "${id}"`, into);
    }
  }
  return into;
}

const lower = (text: string) => text.charAt(0).toLowerCase() + text.slice(1);

/** A value short enough for a sentence. */
function shown(value: Json | undefined): string {
  if (value === undefined) return "nothing";
  const text = typeof value === "string" ? `"${value}"` : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** Each leaf of a value by its dotted path (`inputs.template`, `retry.max_retries`). */
function leaves(value: Json | undefined, path: string, into: Map<string, Json>, skip: string[] = []) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) {
      if (skip.includes(key)) continue;
      leaves(inner, path ? `${path}.${key}` : key, into, skip);
    }
  } else if (path) {
    into.set(path, value as Json);
  }
  return into;
}

function fieldChanges(before: Map<string, Json>, after: Map<string, Json>, subject: string): string[] {
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  const changes: string[] = [];
  for (const path of paths) {
    const was = before.get(path);
    const now = after.get(path);
    if (JSON.stringify(was) === JSON.stringify(now)) continue;
    if (!before.has(path)) changes.push(`${subject}: ${path} set to ${shown(now)}.`);
    else if (!after.has(path)) changes.push(`${subject}: ${path} removed (was ${shown(was)}).`);
    else changes.push(`${subject}: ${path} changed from ${shown(was)} to ${shown(now)}.`);
  }
  return changes;
}

/** What changed from `before` to `after`, one sentence each; empty when they are the same. */
export function describeChanges(before: unknown, after: unknown): string[] {
  const a = (before ?? {}) as Node;
  const b = (after ?? {}) as Node;
  const changes: string[] = [];
  if (a.name !== b.name) changes.push(`Renamed from ${shown(a.name)} to ${shown(b.name)}.`);
  if (JSON.stringify(a.trigger ?? null) !== JSON.stringify(b.trigger ?? null)) {
    const was = describeTrigger(a.trigger);
    const now = describeTrigger(b.trigger);
    changes.push(
      was === now ? `The trigger's settings changed (${was}).` : `Now starts ${lower(now)} (was: ${lower(was)}).`,
    );
  }
  changes.push(
    ...fieldChanges(
      leaves(a, "", new Map(), ["id", "name", "trigger", "steps"]),
      leaves(b, "", new Map(), ["id", "name", "trigger", "steps"]),
      "Settings",
    ),
  );
  const was = stepsOf(a.steps, "the main path", new Map());
  const now = stepsOf(b.steps, "the main path", new Map());
  for (const [id, placed] of now) {
    if (!was.has(id)) changes.push(`Added step "${id}" (${String(placed.step.type ?? "step")}) in ${placed.where}.`);
  }
  for (const [id, placed] of was) {
    if (!now.has(id)) changes.push(`Removed step "${id}" from ${placed.where}.`);
  }
  const order = (steps: Map<string, Placed>) => [...steps.keys()].filter((id) => was.has(id) && now.has(id));
  const kept = unmoved(order(was), order(now));
  const settings = [...NESTED, "fallback"];
  for (const [id, placed] of now) {
    const old = was.get(id);
    if (!old) continue;
    if (old.where !== placed.where) changes.push(`Moved step "${id}" from ${old.where} to ${placed.where}.`);
    else if (!kept.has(id)) changes.push(`Moved step "${id}" to another place in ${placed.where}.`);
    changes.push(
      ...fieldChanges(leaves(old.step, "", new Map(), settings), leaves(placed.step, "", new Map(), settings), `Step "${id}"`),
    );
  }
  return changes;
}

/** The steps that kept their order: the longest common subsequence of the two orders. */
function unmoved(before: string[], after: string[]): Set<string> {
  const lengths = before.map(() => after.map(() => 0));
  const at = (i: number, j: number) => (i < before.length && j < after.length ? lengths[i][j] : 0);
  for (let i = before.length - 1; i >= 0; i--) {
    for (let j = after.length - 1; j >= 0; j--) {
      lengths[i][j] = before[i] === after[j] ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
    }
  }
  const kept = new Set<string>();
  for (let i = 0, j = 0; i < before.length && j < after.length; ) {
    if (before[i] === after[j]) {
      kept.add(before[i]);
      i++;
      j++;
    } else if (at(i + 1, j) >= at(i, j + 1)) i++;
    else j++;
  }
  return kept;
}

/** How soon people are told, as the workflow's `notify.when` and a person's own setting say it. */
export const NOTIFY_CHOICES: [value: string, label: string][] = [
  ["immediately", "At once"],
  ["hourly", "In one digest an hour"],
  ["never", "Never"],
];

export type Notify = { when?: string; emails?: string[]; slack_channel?: string; slack_credential?: string };

/** The `notify` object the fields describe, or "" when they say only what is the default. */
export function notifySettings(when: string, emails: string, channel: string, credential: string): Notify | "" {
  const notify: Notify = {};
  if (when !== "immediately") notify.when = when;
  const addresses = emails
    .split(/[,;\s]+/)
    .map((address) => address.trim())
    .filter(Boolean);
  if (addresses.length > 0) notify.emails = addresses;
  if (channel.trim()) notify.slack_channel = channel.trim();
  if (channel.trim() && credential.trim()) notify.slack_credential = credential.trim();
  return Object.keys(notify).length > 0 ? notify : "";
}

/** Who hears of this workflow's failures, in a sentence. */
export function describeNotify(notify: Notify): string {
  if (notify.when === "never") return "Nobody is told when a run fails.";
  const who = ["its owner", ...(notify.emails ?? []), ...(notify.slack_channel ? [`Slack ${notify.slack_channel}`] : [])];
  const list = who.length > 1 ? `${who.slice(0, -1).join(", ")} and ${who[who.length - 1]}` : who[0];
  return notify.when === "hourly"
    ? `When a run fails or waits for approval, ${list} ${who.length > 1 ? "hear" : "hears"} of it in an hourly digest.`
    : `When a run fails or waits for approval, ${list} ${who.length > 1 ? "hear" : "hears"} of it at once.`;
}
