// Templates: a gallery of ready-made workflows (filtered by words, category and the apps already
// connected), a template's page (what it does step by step, examples, rating), and the wizard
// that makes it run: connect what is missing in place, choose the settings, create, test with
// sample data, switch on.
import { useMemo, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../lib/api";
import { describe } from "../lib/errors";
import { useMayEdit } from "../shell";
import { Alert, Button, Confirm, Field } from "../ui";
import { ConnectorCard, type Connector, type Credential } from "./integrations";

type Category = "marketing" | "sales" | "operations" | "customer_support" | "admin";
type Summary = {
  own: boolean;
  id: string;
  name: string;
  description: string;
  category: Category;
  tags: string[];
  difficulty: "beginner" | "intermediate" | "advanced";
  time_saved: string;
  integrations: { required: string[]; optional: string[] };
  author: string;
  uses: number;
  rating: { average: number | null; count: number };
  missing: string[];
};
type Property = {
  type?: string;
  title?: string;
  description?: string;
  enum?: (string | number)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
};
type Detail = Summary & {
  configuration_schema: { properties?: Record<string, Property>; required?: string[] };
  example_config: Record<string, unknown>;
  sample_input: unknown;
  steps_in_words: string[];
  examples: { use_case: string; setup: string }[];
  app_names: Record<string, string>;
  my_rating: number | null;
};

const CATEGORIES: [Category, string][] = [
  ["customer_support", "Customer support"],
  ["sales", "Sales"],
  ["marketing", "Marketing"],
  ["operations", "Operations"],
  ["admin", "Admin"],
];
const CATEGORY_NAME = Object.fromEntries(CATEGORIES) as Record<Category, string>;
const DIFFICULTY = { beginner: "Beginner", intermediate: "Intermediate", advanced: "Advanced" };

/** An app's name as a person knows it (`ai`: any AI model). */
function appName(id: string, names: Record<string, string>) {
  if (id === "ai") return "AI model";
  return names[id] ?? id;
}

function Stars({ rating }: { rating: Summary["rating"] }) {
  if (rating.average === null) return <span className="text-slate-600">Not rated yet</span>;
  return (
    <span aria-label={`Rated ${rating.average} of 5 by ${rating.count}`}>
      <span aria-hidden="true" className="text-amber-600">
        {"★".repeat(Math.round(rating.average))}
        {"☆".repeat(5 - Math.round(rating.average))}
      </span>{" "}
      <span className="text-slate-600">({rating.count})</span>
    </span>
  );
}

export function TemplateGallery() {
  const [words, setWords] = useState("");
  const [category, setCategory] = useState<Category | "">("");
  const [connectedOnly, setConnectedOnly] = useState(false);
  const [difficulty, setDifficulty] = useState<Summary["difficulty"] | "">("");
  const query = new URLSearchParams();
  if (difficulty) query.set("difficulty", difficulty);
  if (words.trim()) query.set("q", words.trim());
  if (category) query.set("category", category);
  if (connectedOnly) query.set("connected_only", "true");
  const search = query.toString();
  const templates = useQuery({
    queryKey: ["templates", search],
    queryFn: () => api<{ items: Summary[] }>(search ? `/api/v1/templates?${search}` : "/api/v1/templates"),
  });
  const connectors = useConnectors();
  return (
    <section>
      <h1 className="mb-1 text-2xl font-semibold text-slate-900">Templates</h1>
      <p className="mb-4 text-slate-700">
        Ready-made workflows: pick one, connect your apps, choose a few settings, and it runs. Or{" "}
        <Link to="/workflows/new" className="text-indigo-800 underline">
          build one yourself
        </Link>
        .
      </p>
      <div className="mb-4 grid gap-3 sm:grid-cols-4">
        <Field label="Search templates" name="q" value={words} onChange={setWords} required={false} />
        <div className="mb-4">
          <label htmlFor="template-category" className="mb-1 block text-sm font-medium text-slate-800">
            Category
          </label>
          <select
            id="template-category"
            value={category}
            onChange={(event) => setCategory(event.target.value as Category | "")}
            className="w-full rounded-md border border-slate-300 px-2 py-2"
          >
            <option value="">All categories</option>
            {CATEGORIES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div className="mb-4">
          <label htmlFor="template-difficulty" className="mb-1 block text-sm font-medium text-slate-800">
            Difficulty
          </label>
          <select
            id="template-difficulty"
            value={difficulty}
            onChange={(event) => setDifficulty(event.target.value as Summary["difficulty"] | "")}
            className="w-full rounded-md border border-slate-300 px-2 py-2"
          >
            <option value="">Any</option>
            {Object.entries(DIFFICULTY).map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <label className="flex items-center gap-2 text-sm text-slate-800 sm:mt-7">
          <input type="checkbox" checked={connectedOnly} onChange={(event) => setConnectedOnly(event.target.checked)} />
          Only apps I have connected
        </label>
      </div>
      {templates.isPending && <p role="status">Loading…</p>}
      {templates.isError && <Alert tone="error">{describe(templates.error)}</Alert>}
      {templates.data?.items.length === 0 && <p className="text-slate-700">No template fits. Try other words or fewer filters.</p>}
      <ul className="grid gap-3 sm:grid-cols-2">
        {templates.data?.items.map((template) => (
          <li key={template.id} aria-label={template.name} className="rounded-lg bg-white p-4 ring-1 ring-slate-200">
            <Link to={`/templates/${template.id}`} className="font-medium text-indigo-800 underline">
              {template.name}
            </Link>
            <p className="mt-1 text-sm text-slate-700">{template.description}</p>
            <p className="mt-2 text-sm text-slate-700">
              {template.integrations.required.map((id) => appName(id, connectors.names)).join(" · ")}
            </p>
            <p className="mt-1 flex flex-wrap gap-x-3 text-sm text-slate-600">
              {template.own && <span>By {template.author}</span>}
              <span>{CATEGORY_NAME[template.category]}</span>
              {template.time_saved && <span>Saves {template.time_saved}</span>}
              <span>{DIFFICULTY[template.difficulty]}</span>
              <Stars rating={template.rating} />
            </p>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The connectors, and each one's name by id. */
function useConnectors() {
  const connectors = useQuery({
    queryKey: ["connectors"],
    queryFn: () => api<{ items: Connector[] }>("/api/v1/connectors"),
  });
  const names = useMemo(
    () => Object.fromEntries((connectors.data?.items ?? []).map((connector) => [connector.id, connector.name])),
    [connectors.data],
  );
  return { list: connectors.data?.items ?? [], names };
}

export function TemplatePage() {
  const { id = "" } = useParams();
  const mayEdit = useMayEdit();
  const [using, setUsing] = useState(false);
  const template = useQuery({
    queryKey: ["template", id],
    queryFn: () => api<Detail>(`/api/v1/templates/${encodeURIComponent(id)}`),
  });
  if (template.isPending) return <p role="status">Loading…</p>;
  if (template.isError) return <Alert tone="error">{describe(template.error)}</Alert>;
  const shown = template.data;
  return (
    <section>
      <p className="mb-2 text-sm">
        <Link to="/templates" className="text-indigo-800 underline">
          All templates
        </Link>
      </p>
      <h1 className="mb-1 text-2xl font-semibold text-slate-900">{shown.name}</h1>
      <p className="mb-2 text-slate-700">{shown.description}</p>
      <p className="mb-4 flex flex-wrap gap-x-3 text-sm text-slate-600">
        {shown.own && <span>By {shown.author}, for your organization only</span>}
        <span>{CATEGORY_NAME[shown.category]}</span>
        {shown.time_saved && <span>Saves {shown.time_saved}</span>}
        <span>{DIFFICULTY[shown.difficulty]}</span>
        <span>{`Used ${shown.uses} time${shown.uses === 1 ? "" : "s"}`}</span>
        <Stars rating={shown.rating} />
      </p>
      <div className="mb-4 grid gap-4 sm:grid-cols-2">
        <div className="rounded-lg bg-white p-4 ring-1 ring-slate-200">
          <h2 className="mb-2 font-semibold text-slate-900">What it does</h2>
          <ol className="list-decimal space-y-1 pl-5 text-slate-800">
            {shown.steps_in_words.map((step) => (
              <li key={step}>{step}</li>
            ))}
          </ol>
          <p className="mt-3 text-sm text-slate-700">
            Apps: {shown.integrations.required.map((app) => appName(app, shown.app_names)).join(", ")}
            {shown.integrations.optional.length > 0 &&
              ` (optional: ${shown.integrations.optional.map((app) => appName(app, shown.app_names)).join(", ")})`}
          </p>
        </div>
        {shown.examples.length > 0 && <div className="rounded-lg bg-white p-4 ring-1 ring-slate-200">
          <h2 className="mb-2 font-semibold text-slate-900">Who uses it</h2>
          <ul className="space-y-2 text-slate-800">
            {shown.examples.map((example) => (
              <li key={example.use_case}>
                <span className="font-medium">{example.use_case}</span>
                <span className="block text-sm text-slate-700">{example.setup}</span>
              </li>
            ))}
          </ul>
        </div>}
      </div>
      <Rate template={shown} />
      {shown.own && mayEdit && <RemoveOwn id={shown.id} name={shown.name} />}
      {mayEdit && !using && <Button onClick={() => setUsing(true)}>Use this template</Button>}
      {!mayEdit && <p className="text-slate-700">Your role lets you look at templates; ask a member or admin to use one.</p>}
      {using && <Wizard template={shown} />}
    </section>
  );
}

function Rate({ template }: { template: Detail }) {
  const queries = useQueryClient();
  const rate = useMutation({
    mutationFn: (stars: number) =>
      api(`/api/v1/templates/${encodeURIComponent(template.id)}/rating`, { method: "PUT", body: { stars } }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["template", template.id] }),
  });
  return (
    <div className="mb-4 flex flex-wrap items-center gap-1 text-sm text-slate-700" role="group" aria-label="Rate this template">
      <span className="mr-1">{template.my_rating ? `You gave it ${template.my_rating} of 5.` : "Rate it:"}</span>
      {[1, 2, 3, 4, 5].map((stars) => (
        <button
          key={stars}
          type="button"
          aria-label={`${stars} of 5`}
          aria-pressed={template.my_rating === stars}
          onClick={() => rate.mutate(stars)}
          className={`rounded px-1 text-lg focus:outline-none focus:ring-2 focus:ring-indigo-600 ${
            (template.my_rating ?? 0) >= stars ? "text-amber-600" : "text-slate-400"
          }`}
        >
          ★
        </button>
      ))}
      {rate.isError && <Alert tone="error">{describe(rate.error)}</Alert>}
    </div>
  );
}

/** The setting's starting value: the schema's default, else the template's example. */
function startingValues(template: Detail) {
  const properties = template.configuration_schema.properties ?? {};
  return Object.fromEntries(
    Object.entries(properties).map(([name, property]) => {
      const start = property.default ?? template.example_config[name] ?? "";
      return [name, typeof start === "boolean" ? start : String(start)];
    }),
  ) as Record<string, string | boolean>;
}

/** The settings as the schema types them: numbers as numbers, empty optional ones left out. */
function typedConfig(template: Detail, values: Record<string, string | boolean>) {
  const properties = template.configuration_schema.properties ?? {};
  const out: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(properties)) {
    const value = values[name];
    if (typeof value === "boolean") out[name] = value;
    else if (property.type === "integer" || property.type === "number") {
      if (value !== "") out[name] = Number(value);
    } else if (value !== "" || (template.configuration_schema.required ?? []).includes(name)) out[name] = value;
  }
  return out;
}

type Run = { id: string; state: string; output?: unknown; error?: { message?: string } | null };

function Wizard({ template }: { template: Detail }) {
  const queries = useQueryClient();
  const connectors = useConnectors();
  const aiProviders = connectors.list.filter((connector) => connector.category === "ai");
  const missingWith = (items: Credential[] | undefined) => {
    const connected = new Set((items ?? []).map((credential) => credential.service));
    return template.integrations.required.filter((app) => {
      if (app === "ai") return !aiProviders.some((provider) => connected.has(provider.id));
      const connector = connectors.list.find((known) => known.id === app);
      return connector ? connector.auth.kind !== "none" && !connected.has(app) : false;
    });
  };
  // An app connected through its provider's page (another tab) shows up here within seconds.
  const credentials = useQuery({
    queryKey: ["credentials"],
    queryFn: () => api<{ items: Credential[] }>("/api/v1/credentials"),
    refetchInterval: (query) => (missingWith(query.state.data?.items).length > 0 ? 2000 : false),
  });
  const [values, setValues] = useState(() => startingValues(template));
  const [sample, setSample] = useState(() => JSON.stringify(template.sample_input, null, 2));
  const [made, setMade] = useState<{ id: string } | null>(null);
  const missing = missingWith(credentials.data?.items);
  const create = useMutation({
    mutationFn: () =>
      api<{ id: string }>(`/api/v1/templates/${encodeURIComponent(template.id)}/instantiate`, {
        body: { config: typedConfig(template, values) },
      }),
    onSuccess: async (stored) => {
      setMade(stored);
      await queries.invalidateQueries({ queryKey: ["workflows"] });
      await queries.invalidateQueries({ queryKey: ["template", template.id] });
    },
  });
  const test = useMutation({
    mutationFn: () => {
      let input: unknown;
      try {
        input = JSON.parse(sample);
      } catch {
        throw new Error("The sample data is not valid JSON.");
      }
      return api<Run>(`/api/v1/workflows/${encodeURIComponent(made!.id)}/runs?wait=60`, { body: { input } });
    },
  });
  const switchOn = useMutation({
    mutationFn: () => api(`/api/v1/workflows/${encodeURIComponent(made!.id)}/activate`, { method: "POST" }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["workflows"] }),
  });
  // The choices it needs first, in the order the template asks for them; then the optional ones.
  const required = template.configuration_schema.required ?? [];
  const properties = Object.entries(template.configuration_schema.properties ?? {}).sort(([a], [b]) => {
    const rank = (name: string) => (required.includes(name) ? required.indexOf(name) : required.length);
    return rank(a) - rank(b) || a.localeCompare(b);
  });
  const set = (name: string) => (value: string | boolean) => setValues((now) => ({ ...now, [name]: value }));
  return (
    <div className="mt-4 space-y-4">
      <div className="rounded-lg bg-white p-4 ring-1 ring-slate-200" role="region" aria-label="1. Connect your apps">
        <h2 className="mb-2 font-semibold text-slate-900">1. Connect your apps</h2>
        {missing.length === 0 ? (
          <p className="text-emerald-800">Every app it needs is connected.</p>
        ) : (
          <>
            <p className="mb-2 text-slate-700">It needs {missing.map((app) => appName(app, connectors.names)).join(" and ")}.</p>
            <ul className="space-y-3">
              {connectors.list
                .filter((connector) =>
                  missing.includes("ai") && connector.category === "ai" ? true : missing.includes(connector.id),
                )
                .map((connector) => (
                  <ConnectorCard
                    key={connector.id}
                    connector={connector}
                    connections={(credentials.data?.items ?? []).filter((credential) => credential.service === connector.id)}
                  />
                ))}
            </ul>
          </>
        )}
      </div>
      <form
        className="rounded-lg bg-white p-4 ring-1 ring-slate-200"
        aria-label="2. Choose its settings"
        onSubmit={(event) => {
          event.preventDefault();
          create.mutate();
        }}
      >
        <h2 className="mb-2 font-semibold text-slate-900">2. Choose its settings</h2>
        {properties.map(([name, property]) => {
          const label = property.title ?? name;
          const value = values[name];
          if (property.type === "boolean")
            return (
              <label key={name} className="mb-4 flex items-center gap-2 text-sm text-slate-800">
                <input type="checkbox" checked={value === true} onChange={(event) => set(name)(event.target.checked)} />
                {label}
              </label>
            );
          if (property.enum)
            return (
              <div key={name} className="mb-4">
                <label htmlFor={`config-${name}`} className="mb-1 block text-sm font-medium text-slate-800">
                  {label}
                </label>
                <select
                  id={`config-${name}`}
                  value={String(value)}
                  onChange={(event) => set(name)(event.target.value)}
                  className="w-full rounded-md border border-slate-300 px-2 py-2"
                >
                  {property.enum.map((option) => (
                    <option key={String(option)} value={String(option)}>
                      {String(option)}
                    </option>
                  ))}
                </select>
                {property.description && <p className="mt-1 text-sm text-slate-600">{property.description}</p>}
              </div>
            );
          return (
            <Field
              key={name}
              label={label}
              name={name}
              type={property.type === "integer" || property.type === "number" ? "number" : "text"}
              value={String(value ?? "")}
              onChange={set(name)}
              required={(template.configuration_schema.required ?? []).includes(name)}
              hint={property.description}
            />
          );
        })}
        {create.isError && <Alert tone="error">{describe(create.error)}</Alert>}
        {made ? (
          <p className="text-emerald-800">
            Created, switched off for now:{" "}
            <Link to={`/workflows/${made.id}`} className="underline">
              open it
            </Link>
            .
          </p>
        ) : (
          <Button type="submit" disabled={create.isPending || missing.length > 0}>
            {create.isPending ? "Creating…" : "Create the workflow"}
          </Button>
        )}
      </form>
      {made && (
        <div className="rounded-lg bg-white p-4 ring-1 ring-slate-200" role="region" aria-label="3. Test it and switch it on">
          <h2 className="mb-2 font-semibold text-slate-900">3. Test it and switch it on</h2>
          <label htmlFor="template-sample" className="mb-1 block text-sm font-medium text-slate-800">
            Sample data
          </label>
          <textarea
            id="template-sample"
            value={sample}
            onChange={(event) => setSample(event.target.value)}
            rows={4}
            className="mb-1 w-full rounded-md border border-slate-300 px-3 py-2 font-mono text-sm"
          />
          <p className="mb-3 text-sm text-slate-600">
            What the trigger would bring. The test really runs: it calls your apps with this data.
          </p>
          <span className="flex flex-wrap gap-2">
            <Button tone="plain" onClick={() => test.mutate()} disabled={test.isPending}>
              {test.isPending ? "Running…" : "Run a test"}
            </Button>
            <Button onClick={() => switchOn.mutate()} disabled={switchOn.isPending || switchOn.isSuccess}>
              Switch it on
            </Button>
          </span>
          {test.isError && <Alert tone="error">{test.error instanceof Error && !("status" in test.error) ? test.error.message : describe(test.error)}</Alert>}
          {test.data && (
            <div className="mt-3" role="region" aria-label="Test result">
              {test.data.state === "COMPLETED" ? (
                <Alert tone="info">It worked.</Alert>
              ) : (
                <Alert tone="error">{`It did not work (${test.data.state.toLowerCase()}): ${test.data.error?.message ?? "see the run"}.`}</Alert>
              )}
              <pre className="mt-2 max-h-64 overflow-auto rounded bg-slate-50 p-2 text-sm" aria-label="Test output">
                {JSON.stringify(test.data.output, null, 2)}
              </pre>
              <Link to={`/executions/${test.data.id}`} className="text-sm text-indigo-800 underline">
                See the whole run
              </Link>
            </div>
          )}
          {switchOn.isError && <Alert tone="error">{describe(switchOn.error)}</Alert>}
          {switchOn.isSuccess && <Alert tone="info">It is on: it runs by itself from now.</Alert>}
        </div>
      )}
    </div>
  );
}

function RemoveOwn({ id, name }: { id: string; name: string }) {
  const navigate = useNavigate();
  const queries = useQueryClient();
  const remove = useMutation({
    mutationFn: () => api(`/api/v1/templates/${encodeURIComponent(id)}`, { method: "DELETE" }),
    onSuccess: async () => {
      await queries.invalidateQueries({ queryKey: ["templates"] });
      navigate("/templates", { replace: true });
    },
  });
  return (
    <div className="mb-4">
      <Confirm
        trigger="Remove this template"
        title={`Remove the template "${name}"?`}
        body="Workflows made from it stay as they are."
        confirm="Remove template"
        onConfirm={() => remove.mutate()}
        disabled={remove.isPending}
      />
      {remove.isError && <Alert tone="error">{describe(remove.error)}</Alert>}
    </div>
  );
}

/** Offers one of the organization's workflows to its members as a template. */
export function ShareAsTemplate({ workflowId, name }: { workflowId: string; name: string }) {
  const queries = useQueryClient();
  const [open, setOpen] = useState(false);
  const [title, setTitle] = useState(name);
  const [description, setDescription] = useState("");
  const [category, setCategory] = useState<Category>("operations");
  const share = useMutation({
    mutationFn: () =>
      api<Summary>("/api/v1/templates", { body: { workflow_id: workflowId, name: title, description, category } }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["templates"] }),
  });
  if (share.data)
    return (
      <Alert tone="info">
        Your organization can now start from it:{" "}
        <Link to={`/templates/${share.data.id}`} className="underline">
          see the template
        </Link>
        .
      </Alert>
    );
  if (!open)
    return (
      <p className="mb-4">
        <Button tone="plain" onClick={() => setOpen(true)}>
          Offer it as a template
        </Button>
      </p>
    );
  return (
    <form
      className="mb-4 rounded-lg bg-white p-4 ring-1 ring-slate-200"
      aria-label="Offer it as a template"
      onSubmit={(event) => {
        event.preventDefault();
        share.mutate();
      }}
    >
      <p className="mb-3 text-sm text-slate-700">
        Everyone in your organization will find it under Templates and can make their own copy with their own connections.
      </p>
      <Field label="Template name" name="template_name" value={title} onChange={setTitle} />
      <Field label="What it does, in one sentence" name="description" value={description} onChange={setDescription} />
      <label htmlFor="share-category" className="mb-1 block text-sm font-medium text-slate-800">
        Category
      </label>
      <select
        id="share-category"
        value={category}
        onChange={(event) => setCategory(event.target.value as Category)}
        className="mb-4 w-full rounded-md border border-slate-300 px-2 py-2"
      >
        {CATEGORIES.map(([value, label]) => (
          <option key={value} value={value}>
            {label}
          </option>
        ))}
      </select>
      {share.isError && <Alert tone="error">{describe(share.error)}</Alert>}
      <span className="flex gap-2">
        <Button type="submit" disabled={share.isPending}>
          Offer as a template
        </Button>
        <Button tone="plain" onClick={() => setOpen(false)}>
          Cancel
        </Button>
      </span>
    </form>
  );
}
