// Local stand-ins for the services the browser tests' workflows call: OpenAI and Google (its
// OAuth consent and token endpoints, and the Gmail API). Each answers in the provider's wire
// format, and every answer is checked against the provider's published schema kept in
// crates/connectors/tests/contracts/ before it is sent, so a fake cannot drift from the real API.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const contracts = join(dirname(fileURLToPath(import.meta.url)), "../../crates/connectors/tests/contracts");
const gmailSchemas = JSON.parse(readFileSync(join(contracts, "gmail-v1.json"), "utf8")).schemas;
const openaiSchemas = JSON.parse(readFileSync(join(contracts, "openai-chat.json"), "utf8")).components.schemas;

/**
 * Throws when `value` has a field the schema does not declare, lacks one it requires, or has a
 * value of another JSON type; follows `$ref`s (Google's bare names, OpenAI's `#/components/...`).
 */
export function conform(schemas, schema, value, at = "$") {
  if (typeof schema === "string") schema = { $ref: schema };
  if (schema.$ref) return conform(schemas, schemas[schema.$ref.split("/").pop()], value, at);
  const options = schema.anyOf ?? schema.oneOf;
  if (options) {
    const fits = options.some((option) => {
      try {
        conform(schemas, option, value, at);
        return true;
      } catch {
        return false;
      }
    });
    if (!fits) throw new Error(`${at} fits none of its schema's options`);
    return;
  }
  for (const part of schema.allOf ?? []) conform(schemas, part, value, at);
  const types = [schema.type].flat().filter(Boolean);
  const kind = value === null ? "null" : Array.isArray(value) ? "array" : typeof value === "number" && Number.isInteger(value) ? "integer" : typeof value;
  if (types.length && !types.some((type) => type === kind || (type === "number" && kind === "integer"))) {
    // Google's discovery documents give int64 fields as strings with a format.
    if (!(kind === "string" && types.includes("string"))) throw new Error(`${at} is ${kind}, the schema says ${types.join("|")}`);
  }
  if (kind === "object" && schema.properties) {
    for (const key of Object.keys(value)) {
      if (!(key in schema.properties) && schema.additionalProperties !== true && !schema.additionalProperties) {
        throw new Error(`${at}.${key} is not in the schema`);
      }
      if (key in schema.properties) conform(schemas, schema.properties[key], value[key], `${at}.${key}`);
    }
    for (const key of schema.required ?? []) if (!(key in value)) throw new Error(`${at}.${key} is required by the schema`);
  }
  if (kind === "array" && schema.items) value.forEach((item, index) => conform(schemas, schema.items, item, `${at}[${index}]`));
}

/** What the OpenAI stand-in drafts, inside the JSON of its answer. */
export const REPLY = "Thank you for writing. We are looking into your order and will reply within a day.";

const body = (request) =>
  new Promise((resolve) => {
    let text = "";
    request.on("data", (chunk) => (text += chunk));
    request.on("end", () => resolve(text));
  });

const listen = (server) => new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${server.address().port}`)));

/** The workflow the fake model writes when asked to draft one. */
const DRAFTED = {
  id: "wf_urgent_mail_to_slack",
  name: "Urgent mail to Slack",
  trigger: { type: "poll", service: "gmail", event: "new_email", every: "1m" },
  steps: [
    { id: "read", type: "integration", service: "gmail", action: "read_email", inputs: { email_id: "{{trigger.email_id}}" } },
    {
      id: "judge",
      type: "llm",
      model: "gpt-4o-mini",
      prompt: "Is this urgent? {{read.body}}",
      output_schema: { type: "object", properties: { urgent: { type: "boolean" } }, required: ["urgent"] },
    },
    { id: "tell", type: "integration", service: "slack", action: "post_message", inputs: { channel: "#support", text: "Urgent: {{read.subject}}" } },
  ],
};

/**
 * OpenAI: the model list answers the key `sk-test-good` and refuses any other with OpenAI's own
 * 401; chat completions (for that key) answer with a reply drafted from the prompt and count
 * every call, in `calls` (the prompts and response formats asked for in `prompts`, `formats`).
 */
export async function fakeOpenAI() {
  const state = { calls: 0, prompts: [], formats: [], drafts: 0, agentTurns: 0 };
  const refuse = (response) => {
    response.writeHead(401, { "content-type": "application/json" });
    response.end(JSON.stringify({ error: { message: "Incorrect API key provided", type: "invalid_request_error", param: null, code: "invalid_api_key" } }));
  };
  const server = createServer(async (request, response) => {
    const text = await body(request);
    const good = request.headers.authorization === "Bearer sk-test-good";
    const send = (schema, value) => {
      conform(openaiSchemas, schema, value);
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify(value));
    };
    if (request.url === "/v1/models") {
      if (!good) return refuse(response);
      return send("ListModelsResponse", { object: "list", data: [{ id: "gpt-4o-mini", object: "model", created: 1721172741, owned_by: "system" }] });
    }
    if (request.url === "/v1/chat/completions" && request.method === "POST") {
      if (!good) return refuse(response);
      const asked = JSON.parse(text);
      // Asked to write a workflow (a description in words): a draft using Gmail and Slack.
      if (String(asked.messages[0]?.content ?? "").startsWith("You write workflows for Baton")) {
        state.drafts += 1;
        return send("CreateChatCompletionResponse", {
          id: `chatcmpl-draft-${state.drafts}`,
          object: "chat.completion",
          created: Math.floor(Date.now() / 1000),
          model: asked.model,
          choices: [{ index: 0, message: { role: "assistant", content: JSON.stringify(DRAFTED), refusal: null }, finish_reason: "stop", logprobs: null }],
          usage: { prompt_tokens: 9000, completion_tokens: 400, total_tokens: 9400 },
        });
      }
      // Given tools (an agent's turn): the first turn saves a draft, the next answers.
      if (Array.isArray(asked.tools) && asked.tools.length > 0) {
        state.agentTurns += 1;
        const called = asked.messages.at(-1)?.role === "tool";
        const tool = asked.tools[0].function.name;
        const message = called
          ? { role: "assistant", content: "I saved a draft for Ann.", refusal: null }
          : {
              role: "assistant",
              content: null,
              refusal: null,
              tool_calls: [
                { id: `call_${state.agentTurns}`, type: "function", function: { name: tool, arguments: JSON.stringify({ to: "ann@customer.example", subject: "Your order", body: REPLY }) } },
              ],
            };
        return send("CreateChatCompletionResponse", {
          id: `chatcmpl-agent-${state.agentTurns}`,
          object: "chat.completion",
          created: Math.floor(Date.now() / 1000),
          model: asked.model,
          choices: [{ index: 0, message, finish_reason: called ? "stop" : "tool_calls", logprobs: null }],
          usage: { prompt_tokens: 200, completion_tokens: 20, total_tokens: 220 },
        });
      }
      state.calls += 1;
      const prompt = asked.messages.at(-1).content;
      state.prompts.push(prompt);
      state.formats.push(asked.response_format);
      const reply = `Here is the reply:\n\`\`\`json\n${JSON.stringify({ reply: REPLY, tone: "kind" })}\n\`\`\``;
      return send("CreateChatCompletionResponse", {
        id: `chatcmpl-${state.calls}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: asked.model,
        choices: [{ index: 0, message: { role: "assistant", content: reply, refusal: null }, finish_reason: "stop", logprobs: null }],
        usage: { prompt_tokens: 120, completion_tokens: 30, total_tokens: 150 },
      });
    }
    response.writeHead(404, { "content-type": "application/json" });
    response.end(JSON.stringify({ error: { message: `Unknown request URL: ${request.method} ${request.url}`, type: "invalid_request_error", param: null, code: null } }));
  });
  return { server, state, base: `${await listen(server)}/v1` };
}

const base64url = (text) => Buffer.from(text).toString("base64url");

/**
 * Google: a consent page whose "Allow" link goes back to Baton with a code, the token endpoint
 * that trades it, and the Gmail API's profile, messages.get and drafts.create over one mailbox
 * holding message `m1`. Drafts whose To is no address are refused as Gmail does (400).
 */
export async function fakeGoogle() {
  const state = { drafts: [] };
  const message = {
    id: "m1",
    threadId: "t1",
    labelIds: ["INBOX", "UNREAD"],
    snippet: "Hello, my order 42 has not arrived yet.",
    historyId: "1001",
    internalDate: "1764590000000",
    sizeEstimate: 812,
    payload: {
      partId: "",
      mimeType: "text/plain",
      filename: "",
      headers: [
        { name: "From", value: "ann@customer.example" },
        { name: "To", value: "support@shop.example" },
        { name: "Subject", value: "Where is my order?" },
        { name: "Message-ID", value: "<order-42@customer.example>" },
      ],
      body: { size: 41, data: base64url("Hello, my order 42 has not arrived yet.") },
    },
  };
  const server = createServer(async (request, response) => {
    const url = new URL(request.url, "http://google.test");
    const text = await body(request);
    const json = (status, value, schema) => {
      if (schema) conform(gmailSchemas, schema, value);
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(value));
    };
    if (url.pathname === "/o/oauth2/v2/auth") {
      const back = new URL(url.searchParams.get("redirect_uri"));
      back.searchParams.set("code", "consent-code");
      back.searchParams.set("state", url.searchParams.get("state"));
      response.writeHead(200, { "content-type": "text/html" });
      return response.end(`<!doctype html><title>Google consent</title><p>Baton wants to read and draft your mail.</p><a href="${back.href.replaceAll("&", "&amp;")}">Allow</a>`);
    }
    if (url.pathname === "/token" && request.method === "POST") {
      const form = new URLSearchParams(text);
      if (form.get("code") !== "consent-code" && form.get("grant_type") !== "refresh_token") return json(400, { error: "invalid_grant" });
      return json(200, { access_token: "ya29.test-access", refresh_token: "1//test-refresh", expires_in: 3599, token_type: "Bearer", scope: "https://www.googleapis.com/auth/gmail.modify" });
    }
    if (request.headers.authorization !== "Bearer ya29.test-access") {
      return json(401, { error: { code: 401, message: "Request had invalid authentication credentials.", status: "UNAUTHENTICATED" } });
    }
    const mailbox = "/gmail/v1/users/me";
    if (url.pathname === `${mailbox}/profile`) {
      return json(200, { emailAddress: "support@shop.example", messagesTotal: 1, threadsTotal: 1, historyId: "1001" }, "Profile");
    }
    if (url.pathname === `${mailbox}/messages/m1`) return json(200, message, "Message");
    if (url.pathname.startsWith(`${mailbox}/messages/`)) {
      return json(404, { error: { code: 404, message: "Requested entity was not found.", status: "NOT_FOUND" } });
    }
    if (url.pathname === `${mailbox}/drafts` && request.method === "POST") {
      const raw = Buffer.from(JSON.parse(text).message.raw, "base64url").toString("utf8");
      const to = /^To: (.*)$/m.exec(raw)?.[1] ?? "";
      if (!to.includes("@")) {
        return json(400, { error: { code: 400, message: "Invalid To header", status: "INVALID_ARGUMENT", errors: [{ message: "Invalid To header", domain: "global", reason: "invalidArgument" }] } });
      }
      state.drafts.push(raw);
      const id = `r-${state.drafts.length}`;
      return json(200, { id, message: { id: `d${state.drafts.length}`, threadId: "t1", labelIds: ["DRAFT"] } }, "Draft");
    }
    json(404, { error: { code: 404, message: `Not found: ${request.method} ${url.pathname}`, status: "NOT_FOUND" } });
  });
  const base = await listen(server);
  return {
    server,
    state,
    base,
    env: {
      BATON_GMAIL_BASE_URL: base,
      BATON_GMAIL_AUTHORIZE_URL: `${base}/o/oauth2/v2/auth`,
      BATON_GMAIL_TOKEN_URL: `${base}/token`,
    },
  };
}

/**
 * Notion's API, as far as checking a connection goes: `GET /v1/users/me` answers the
 * integration (the shape of Notion's reference) for `ntn_e2e`, and Notion's 401 otherwise.
 */
export async function fakeNotion() {
  const server = createServer((request, response) => {
    response.setHeader("content-type", "application/json");
    if (request.url !== "/v1/users/me" || request.headers["notion-version"] !== "2025-09-03") {
      response.writeHead(400);
      return response.end(JSON.stringify({ object: "error", status: 400, code: "invalid_request_url", message: "Invalid request URL." }));
    }
    if (request.headers.authorization !== "Bearer ntn_e2e") {
      response.writeHead(401);
      return response.end(JSON.stringify({ object: "error", status: 401, code: "unauthorized", message: "API token is invalid." }));
    }
    response.end(JSON.stringify({ object: "user", id: "16d84278-ab0e-484c-9bdd-b35da3bd8905", name: "Baton", avatar_url: null, type: "bot", bot: { owner: { type: "workspace", workspace: true }, workspace_name: "Acme" } }));
  });
  return { server, base: await listen(server) };
}

/**
 * HubSpot's CRM API, as far as checking a connection goes: one page of contacts for the
 * private app token `pat-na1-e2e`, and HubSpot's 401 otherwise.
 */
export async function fakeHubSpot() {
  const server = createServer((request, response) => {
    response.setHeader("content-type", "application/json");
    if (!request.url.startsWith("/crm/v3/objects/contacts?")) {
      response.writeHead(404);
      return response.end(JSON.stringify({ status: "error", message: "resource not found", correlationId: "aeb5f871-7f07-4993-9211-075dc63e7cbf", category: "OBJECT_NOT_FOUND" }));
    }
    if (request.headers.authorization !== "Bearer pat-na1-e2e") {
      response.writeHead(401);
      return response.end(JSON.stringify({ status: "error", message: "Authentication credentials not found.", correlationId: "aeb5f871-7f07-4993-9211-075dc63e7cbf", category: "INVALID_AUTHENTICATION" }));
    }
    response.end(JSON.stringify({ results: [] }));
  });
  return { server, base: await listen(server) };
}
