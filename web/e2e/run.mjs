// Browser tests of the web app against a real `baton serve` (started here on a free port with a
// fresh data folder) in Debian's Chromium. Usage: node e2e/run.mjs <path to the baton binary>.
// Screenshots of every page visited are written to web/e2e/screenshots/.
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { createHmac } from "node:crypto";
import { chromium } from "playwright-core";
import { serve } from "./serve.mjs";
import { fakeGoogle, fakeHubSpot, fakeNotion, fakeOpenAI, REPLY } from "./fakes.mjs";
import { emailDraftFromTemplate, signUpFresh } from "./template_flow.mjs";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.argv[2];
assert.ok(binary, "usage: node e2e/run.mjs <path to the baton binary>");
const shots = join(here, "screenshots");
// A fresh folder each run: a failure's screenshot from an earlier run would mislead.
rmSync(shots, { recursive: true, force: true });
mkdirSync(shots, { recursive: true });

/** The newest link to `path` in the mails of the outbox, quoted-printable undone. */
function mailedLink(data, path) {
  const outbox = join(data, "outbox");
  const mails = readdirSync(outbox)
    .sort()
    .map((name) => readFileSync(join(outbox, name), "utf8").replace(/=\r?\n/g, "").replace(/=3D/g, "="));
  for (const mail of mails.reverse()) {
    const found = new RegExp(`https?://[^\\s"<>]+${path}\\?token=[A-Za-z0-9_-]+`).exec(mail);
    if (found) return found[0];
  }
  throw new Error(`no mail links to ${path}`);
}

/** The link to the run in the newest mail about the workflow `name`. */
function mailedNotice(data, name) {
  const outbox = join(data, "outbox");
  const mails = readdirSync(outbox)
    .sort()
    .map((name) => readFileSync(join(outbox, name), "utf8").replace(/=\r?\n/g, "").replace(/=3D/g, "="));
  for (const mail of mails.reverse()) {
    if (!mail.includes(`Subject: "${name}" failed`)) continue;
    const found = /https?:\/\/[^\s"<>]+\/executions\/[0-9a-f-]+/.exec(mail);
    if (found) return found[0];
  }
  throw new Error(`no mail tells of "${name}"`);
}

// OpenAI and Google (OAuth and Gmail) stand-ins on this machine, in their own wire formats.
const openai = await fakeOpenAI();
const google = await fakeGoogle();
const notion = await fakeNotion();
const hubspot = await fakeHubSpot();
const { child, base, data } = await serve(binary, {
  BATON_OPENAI_BASE_URL: openai.base,
  BATON_NOTION_BASE_URL: notion.base,
  BATON_HUBSPOT_BASE_URL: hubspot.base,
  ...google.env,
});
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
let failed = false;
const run = async (name, test) => {
  const context = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const page = await context.newPage();
  const problems = [];
  // An answer's status is no page error (a 401 before signing in is expected); a script error or
  // a CSP refusal is.
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      problems.push(message.text());
    }
  });
  page.on("pageerror", (error) => problems.push(error.message));
  try {
    await test(page);
    assert.deepEqual(problems, [], "the page logged no errors (a CSP refusal shows here)");
    console.log(`ok   ${name}`);
  } catch (error) {
    failed = true;
    await page.screenshot({ path: join(shots, `FAILED-${name.replace(/\W+/g, "-")}.png`) }).catch(() => {});
    console.log(`FAIL ${name}\n${error.stack ?? error}`);
  } finally {
    await context.close();
  }
};

/**
 * Every page fits a 375-px phone (nothing scrolls sideways) and axe-core finds no serious or
 * critical accessibility violation on it. (axe is evaluated through the browser's debugging
 * protocol, which the page's CSP does not govern, so the CSP stays on for the app.)
 */
async function fitsAPhone(page, shot) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `${shot} is ${width}px wide on a phone`);
  await page.screenshot({ path: join(shots, `${shot}.png`), fullPage: true });
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await globalThis.axe.run(document, { resultTypes: ["violations"] });
    return result.violations
      .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
      .map((violation) => `${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(" ")).join(", ")})`);
  });
  assert.deepEqual(violations, [], `${shot}: accessibility violations`);
}

const email = "owner@example.com";

/** The current code of an authenticator app holding `secret` (RFC 6238: base32, SHA-1, 30 s, 6 digits). */
function totp(secret) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const char of secret.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(char).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

/**
 * Pastes `text` over everything in the JSON editor, as a person does with Ctrl+A, Ctrl+V.
 * (Typing it with `fill` would make the browser turn runs of spaces into no-break spaces.)
 */
async function paste(page, text, label = "Workflow JSON") {
  const editor = page.getByLabel(label);
  await editor.click();
  await page.keyboard.press("Control+A");
  await editor.evaluate((element, pasted) => {
    const data = new DataTransfer();
    data.setData("text/plain", pasted);
    element.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
  }, text);
}

async function signIn(page, who, password) {
  await page.goto(`${base}/sign-in`);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.getByLabel("Email").fill(who);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Home" }).waitFor();
}
try {
  await run("sign up, confirm the email, sign out, reset the password, sign in", async (page) => {
    await page.goto(`${base}/`);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await fitsAPhone(page, "sign-in");
    await page.getByRole("link", { name: "Create an account" }).click();
    // Links change the page in place: wait for the new page before typing into it.
    await page.getByRole("heading", { name: "Create your account" }).waitFor();
    await page.getByLabel("Your name").fill("Ann Owner");
    await page.getByLabel("Work email").fill(email);
    await page.getByLabel("Password").fill("a long enough password");
    await page.getByLabel("Company name").fill("Acme Bakery");
    await fitsAPhone(page, "sign-up");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("heading", { name: "Home" }).waitFor();
    assert.ok(await page.getByText("Acme Bakery").isVisible(), "the organization is named");
    await page.getByText(`We sent a link to ${email}`).waitFor();
    await page.getByRole("heading", { name: "Get started" }).waitFor();
    await page.getByRole("link", { name: "Connect an app" }).waitFor();
    await fitsAPhone(page, "home");

    await page.goto(mailedLink(data, "/verify-email"));
    await page.getByText("Your email address is confirmed").waitFor();
    await fitsAPhone(page, "verify-email");
    await page.getByRole("link", { name: "Go to Baton" }).click();
    await page.getByRole("heading", { name: "Home" }).waitFor();
    assert.equal(await page.getByText("We sent a link to").count(), 0, "confirmed: no reminder");

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.getByRole("link", { name: "Forgot your password?" }).click();
    await page.getByRole("heading", { name: "Reset your password" }).waitFor();
    await page.getByLabel("Email").fill(email);
    await page.getByRole("button", { name: "Email me a link" }).click();
    await page.getByText("a link to choose a new password is on its way").waitFor();
    await fitsAPhone(page, "forgot-password");

    await page.goto(mailedLink(data, "/reset-password"));
    await page.getByLabel("New password").fill("short");
    await page.getByRole("button", { name: "Save password" }).click();
    const refusal = await page.getByRole("alert").textContent();
    assert.match(refusal ?? "", /password/i, "a too-short password is refused in words");
    await page.getByLabel("New password").fill("another long password");
    await page.getByRole("button", { name: "Save password" }).click();
    await page.getByText("Your password is changed").waitFor();
    await fitsAPhone(page, "reset-password");

    await page.getByRole("link", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("a long enough password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor();
    assert.match(await page.getByRole("alert").textContent(), /not right|did not work|wrong/i, "the old password no longer works");
    await page.getByLabel("Password").fill("another long password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Home" }).waitFor();
  });

  await run("paste a workflow, see its problem at its line, fix it, run it and watch it finish", async (page) => {
    await signIn(page, email, "another long password");
    await page.getByRole("link", { name: "Add a workflow from a template" }).click();
    await page.getByRole("heading", { name: "Templates" }).waitFor();
    await page.getByRole("link", { name: "build one yourself" }).click();
    await page.getByRole("heading", { name: "New workflow" }).waitFor();
    await page.getByRole("button", { name: "Start blank" }).click();
    await page.getByRole("button", { name: "Check for problems" }).click();
    await page.getByText("No problems found.").waitFor(); // the blank one is a valid start
    const workflow = {
      id: "wf_total",
      name: "Order total",
      steps: [
        { id: "total", type: "transformation", action: "calculate", inputs: { expression: "trigger.price * trigger.qty" } },
        { id: "label", type: "transformation", action: "template", inputs: { template: "total {{ total.result }}" } },
      ],
    };
    const broken = structuredClone(workflow);
    broken.steps[1].type = "teleport";
    const text = JSON.stringify(broken, null, 2);
    const brokenLine = text.split("\n").findIndex((line) => line.includes('"teleport"')) + 1;
    await paste(page, text);
    await page.getByRole("button", { name: "Check for problems" }).click();
    const problem = await page.getByRole("alert").textContent();
    const shownLine = Number(/Line (\d+)/.exec(problem ?? "")?.[1]);
    assert.ok(
      shownLine > 0 && Math.abs(shownLine - brokenLine) <= 2,
      `the problem points near line ${brokenLine}: ${problem}`,
    );
    // The editor marks the line too, in its gutter.
    await page.locator(".cm-lint-marker-error").first().waitFor();
    await fitsAPhone(page, "new-workflow-problem");
    await paste(page, text.replace('"label"', '"label",,'));
    await page.getByRole("button", { name: "Save workflow" }).click();
    await page.getByText("The text is not valid JSON.").waitFor();

    await paste(page, JSON.stringify(workflow, null, 2));
    await page.getByRole("button", { name: "Check for problems" }).click();
    await page.getByText("No problems found.").waitFor();
    await page.getByRole("button", { name: "Save workflow" }).click();
    await page.getByRole("heading", { name: "Order total" }).waitFor();
    await page.getByText("By hand or from the API").waitFor();
    await page.getByLabel("Time limit for a run").fill("ten minutes");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByRole("alert").getByText(/Timeout:/).waitFor(); // the field is named
    await page.getByLabel("Time limit for a run").fill("10m");
    await page.getByLabel("Runs at once").fill("2");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText("Saved as version 2.").waitFor();
    await page.getByLabel("Input (JSON, what the trigger would give)").fill('{"price": 7, "qty": 3}');
    await fitsAPhone(page, "workflow");
    await page.getByRole("button", { name: "Run now" }).click();
    await page.getByRole("heading", { name: /Run of/ }).waitFor();
    await page.getByText("Completed").first().waitFor({ timeout: 15_000 });
    const label = page.getByRole("listitem", { name: "Step label" });
    await label.getByText("Output").click();
    await label.getByText('"text": "total 21"').waitFor();
    await fitsAPhone(page, "execution");

    await page.getByRole("link", { name: "Runs" }).click();
    await page.getByRole("link", { name: "Order total" }).first().waitFor();
    await fitsAPhone(page, "runs");
    await page.getByLabel("State").selectOption("FAILED");
    await page.getByText("No runs match.").waitFor();
    await page.getByLabel("State").selectOption("COMPLETED");
    await page.getByLabel("Workflow").selectOption("wf_total");
    await page.getByLabel("When").selectOption("today");
    await page.getByRole("link", { name: "Order total" }).first().waitFor();
    assert.match(page.url(), /state=COMPLETED/, "the filters are in the address, to share or go back to");
    await page.getByRole("link", { name: "Workflows", exact: true }).click();
    const listed = page.getByRole("listitem").filter({ has: page.getByRole("link", { name: "Order total" }) });
    await listed.getByText("100% succeeded of 1 runs this week").waitFor();
    await page.getByRole("link", { name: "Home", exact: true }).click();
    await page.getByText("Runs today").waitFor();
    await page.getByText("100%").waitFor(); // one run, completed
    await fitsAPhone(page, "home-with-runs");
  });

  await run("a webhook workflow: its URL starts runs; edit, compare versions, restore, delete", async (page) => {
    await signIn(page, email, "another long password");
    await page.evaluate(async () => {
      await fetch("/api/v1/workflows", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          id: "wf_echo",
          name: "Echo",
          trigger: { type: "webhook" },
          steps: [{ id: "say", type: "transformation", action: "template", inputs: { template: "hi {{ trigger.who }}" } }],
        }),
      });
    });
    await page.goto(`${base}/workflows/wf_echo`);
    await page.getByRole("heading", { name: "Echo" }).waitFor();
    await page.getByText("When its webhook URL is called").waitFor();
    const url = await page.getByLabel("Webhook URL").inputValue();
    assert.match(url, /\/hooks\/[A-Za-z0-9_-]{20,}$/, `a hook URL is shown: ${url}`);
    await page.getByText("The workflow is off").waitFor();
    await page.getByRole("switch", { name: "Workflow: off" }).click();
    await page.getByRole("switch", { name: "Workflow: on" }).waitFor();
    await fitsAPhone(page, "workflow-webhook");
    const called = await page.evaluate(async (hook) => (await fetch(hook, { method: "POST", body: '{"who": "Bea"}', headers: { "content-type": "application/json" } })).status, url);
    assert.equal(called, 202, "the copied URL starts a run");

    await page.getByRole("tab", { name: "Edit JSON" }).click();
    const editor = page.getByLabel("Workflow JSON");
    const text = await editor.textContent();
    assert.match(text ?? "", /"name": "Echo"/, "the editor holds the current definition");
    await paste(page, JSON.stringify({ id: "wf_echo", name: "Echo v2", trigger: { type: "webhook" }, steps: [
      { id: "say", type: "transformation", action: "template", inputs: { template: "hello {{ trigger.who }}" } },
    ] }, null, 2));
    await fitsAPhone(page, "workflow-edit");
    await page.getByRole("button", { name: "Save as a new version" }).click();
    await page.getByRole("heading", { name: "Echo v2" }).waitFor();

    await page.getByRole("tab", { name: "Versions" }).click();
    const changes = page.getByRole("list", { name: "Changes" });
    await changes.getByText('Renamed from "Echo" to "Echo v2".').waitFor();
    await changes.getByText('Step "say": inputs.template changed from "hi {{ trigger.who }}" to "hello {{ trigger.who }}".').waitFor();
    await fitsAPhone(page, "workflow-versions");
    await page.getByRole("button", { name: "Restore version 1" }).click();
    await page.getByRole("alertdialog", { name: "Restore version 1?" }).waitFor();
    await fitsAPhone(page, "workflow-restore-dialog");
    await page.getByRole("button", { name: "Restore", exact: true }).click();
    await page.getByText("Restored: it is now version 3.").waitFor();
    await page.getByRole("heading", { name: "Echo", exact: true }).waitFor();

    // Someone else saves meanwhile: this page's save is refused, not silently overwriting it.
    await page.evaluate(async () => {
      const current = await (await fetch("/api/v1/workflows/wf_echo")).json();
      await fetch("/api/v1/workflows/wf_echo", {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...current.definition, description: "changed elsewhere" }),
      });
    });
    await page.getByRole("tab", { name: "Overview" }).click();
    await page.getByLabel("Description").fill("mine");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByRole("alert").getByText(/someone saved a newer version/).waitFor();

    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("button", { name: "Delete workflow" }).click();
    await page.getByRole("heading", { name: "Workflows" }).waitFor();
    assert.equal(await page.getByRole("link", { name: "Echo" }).count(), 0, "deleted, it leaves the list");
    const gone = await page.evaluate(async (hook) => (await fetch(hook, { method: "POST", body: "{}" })).status, url);
    assert.equal(gone, 404, "its URL starts nothing any more");
  });

  await run("hooks for Stripe's and Asana's events: paste Stripe's signing secret, Asana's handshake sets its own; signed events run once, others are refused", async (page) => {
    await signIn(page, email, "another long password");
    await page.evaluate(async () => {
      await fetch("/api/v1/workflows", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          id: "wf_paid",
          name: "Thank payers",
          trigger: { type: "webhook", verify: "stripe" },
          steps: [{ id: "who", type: "transformation", action: "template", inputs: { template: "{{ trigger.body.data.object.customer_email }}" } }],
        }),
      });
    });
    await page.goto(`${base}/workflows/wf_paid`);
    await page.getByText("Stripe's calls are refused until you save the signing secret").waitFor();
    const url = await page.getByLabel("Webhook URL").inputValue();
    await page.getByRole("switch", { name: "Workflow: off" }).click();
    await page.getByRole("switch", { name: "Workflow: on" }).waitFor();
    const event = JSON.stringify({ id: "evt_1", object: "event", type: "invoice.paid", data: { object: { customer_email: "ann@customer.com" } } });
    const deliver = async (secret) => {
      const t = Math.floor(Date.now() / 1000);
      const v1 = createHmac("sha256", secret).update(`${t}.${event}`).digest("hex");
      return (await fetch(url, { method: "POST", body: event, headers: { "content-type": "application/json", "stripe-signature": `t=${t},v1=${v1}` } })).status;
    };
    assert.equal(await deliver("whsec_e2e_signing_secret"), 401, "refused before the secret is saved");
    await page.getByLabel("Stripe signing secret").fill("whsec_e2e_signing_secret");
    await fitsAPhone(page, "workflow-stripe-hook");
    await page.getByRole("button", { name: "Save signing secret" }).click();
    await page.getByText("Calls must be signed by Stripe with the signing secret you saved").waitFor();
    assert.equal(await deliver("whsec_someone_else"), 401, "a forged event is refused");
    assert.equal(await deliver("whsec_e2e_signing_secret"), 202, "Stripe's signed event starts a run");
    assert.equal(await deliver("whsec_e2e_signing_secret"), 200, "the same event sent again runs nothing new");

    // Asana's hook agrees on its secret by itself: the page says how, then that it is set.
    await page.evaluate(async () => {
      await fetch("/api/v1/workflows", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: "wf_tasks", name: "New Asana tasks", trigger: { type: "webhook", verify: "asana" }, steps: [{ id: "x", type: "transformation", action: "set", inputs: { a: 1 } }] }),
      });
    });
    await page.goto(`${base}/workflows/wf_tasks`);
    await page.getByText("Asana agrees on a secret with this URL by itself").waitFor();
    const asanaUrl = await page.getByLabel("Webhook URL").inputValue();
    await page.getByRole("switch", { name: "Workflow: off" }).click();
    await page.getByRole("switch", { name: "Workflow: on" }).waitFor();
    const handshake = await fetch(asanaUrl, { method: "POST", headers: { "x-hook-secret": "asana-e2e-secret-123" } });
    assert.equal(handshake.status, 200);
    assert.equal(handshake.headers.get("x-hook-secret"), "asana-e2e-secret-123", "the secret is sent back");
    await page.reload();
    await page.getByText("Asana's calls must be signed with the secret Asana and this workflow agreed on").waitFor();
    await page.getByRole("button", { name: "Forget Asana's secret (to connect another Asana webhook)" }).click();
    await page.getByText("Asana agrees on a secret with this URL by itself").waitFor();

    // A hook of Baton's own scheme: a secret is made here and shown once.
    await page.evaluate(async () => {
      await fetch("/api/v1/workflows", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: "wf_signed", name: "Signed", trigger: { type: "webhook" }, steps: [{ id: "x", type: "transformation", action: "set", inputs: { a: 1 } }] }),
      });
    });
    await page.goto(`${base}/workflows/wf_signed`);
    await page.getByText("Anyone with this URL can start the workflow").waitFor();
    await page.getByRole("button", { name: "Make a secret" }).click();
    const secret = await page.getByLabel("Secret (shown once: copy it now)").inputValue();
    assert.match(secret, /^whsec_/, `a Standard Webhooks secret is shown once: ${secret}`);
    await page.getByText("Calls must be signed with this workflow's secret").waitFor();
    await page.getByRole("button", { name: "Remove the secret" }).click();
    await page.getByText("Anyone with this URL can start the workflow").waitFor();
  });

  await run("builder: add steps by clicking, undo and redo, save, a test run lights the steps up", async (page) => {
    await signIn(page, email, "another long password");
    await page.evaluate(() =>
      fetch("/api/v1/workflows", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          id: "wf_build",
          name: "Built by clicking",
          steps: [{ id: "hello", type: "transformation", action: "template", inputs: { template: "hello" } }],
        }),
      }),
    );
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.goto(`${base}/workflows/wf_build`);
    await page.getByRole("link", { name: "Open the builder" }).click();
    const canvas = page.getByLabel("Workflow canvas");
    await canvas.getByLabel("Step hello").waitFor();
    await canvas.getByRole("button", { name: "+ Add a step" }).click();
    await page.getByRole("button", { name: "If / else" }).click();
    await canvas.getByLabel("Step check").waitFor();
    await page.getByRole("button", { name: "Fit View" }).click();
    await canvas.getByRole("button", { name: "+ Add a step (if true)" }).click();
    await page.getByLabel("Search").fill("write");
    await page.getByRole("button", { name: "Write text" }).click();
    await canvas.getByLabel("Step write").waitFor();
    await page.getByRole("button", { name: "Undo" }).click();
    await canvas.getByLabel("Step write").waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Redo" }).click();
    await canvas.getByLabel("Step write").waitFor();
    await page.keyboard.press("Control+z");
    await canvas.getByLabel("Step write").waitFor({ state: "detached" });
    await page.keyboard.press("Control+Shift+z");
    await canvas.getByLabel("Step write").waitFor();
    // Its form: a field filled by typing and by picking an earlier step's value.
    await canvas.getByLabel("Step write").getByRole("button").first().click();
    await page.getByLabel("Text to write (required)").fill("Hi");
    await page.getByLabel("Insert a value into Text to write").selectOption({ label: "hello: Text" });
    await page.getByRole("button", { name: "Apply" }).click();
    await canvas.getByLabel("Step write").getByText("Write “Hi {{hello.text}}”").waitFor();
    // A problem shows on its card as soon as it is made, and goes with an undo.
    await page.getByRole("button", { name: "JSON", exact: true }).click();
    const stepJson = JSON.parse(await page.getByLabel("Step JSON").textContent());
    stepJson.action = "teleport";
    await paste(page, JSON.stringify(stepJson, null, 2), "Step JSON");
    await page.getByRole("button", { name: "Apply" }).click();
    await canvas.getByLabel("Step write").getByText("1 problem").waitFor();
    await page.getByRole("list", { name: "Problems" }).getByText(/action/).waitFor();
    await page.getByRole("button", { name: "Undo" }).click();
    await canvas.getByLabel("Step write").getByText("1 problem").waitFor({ state: "detached" });
    await page.screenshot({ path: join(shots, "builder.png") });
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByRole("button", { name: "Saved" }).waitFor();
    const saved = await page.evaluate(async () => (await (await fetch("/api/v1/workflows/wf_build")).json()).definition);
    assert.deepEqual(
      saved.steps.map((step) => step.id),
      ["hello", "check"],
      "the saved document holds what was built",
    );
    assert.equal(saved.steps[1].then[0].id, "write");
    assert.equal(saved.steps[1].then[0].inputs.template, "Hi {{ hello.text }}");
    await page.getByRole("button", { name: "Test run" }).click();
    await canvas.getByLabel("Step write").getByText("Completed").waitFor({ timeout: 15_000 });
    await canvas.getByLabel("Step hello").getByText("Completed").waitFor();
    await canvas.getByLabel("Step hello").getByText(/^\d+ ms$/).waitFor(); // how long it took

    // Drag a step's card onto another branch's empty place: it moves there; undo brings it back.
    await canvas.getByLabel("Step write").dragTo(canvas.getByRole("button", { name: "+ Add a step (else)" }));
    await canvas.getByRole("button", { name: "+ Add a step (if true)" }).waitFor();
    const dragged = await page.evaluate(() => JSON.parse(localStorage.getItem(Object.keys(localStorage).find((key) => key.startsWith("baton:draft:wf_build")))));
    assert.equal(dragged.steps[1].else[0].id, "write", "the step moved to the other branch");
    await page.getByRole("button", { name: "Undo" }).click();
    await canvas.getByRole("button", { name: "+ Add a step (else)" }).waitFor();

    // Paste a step after the chosen one; its taken id is renamed.
    await canvas.getByLabel("Step hello").getByRole("button").first().click();
    await page.evaluate((text) => {
      const data = new DataTransfer();
      data.setData("text/plain", text);
      window.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
    }, JSON.stringify({ id: "hello", type: "transformation", action: "template", inputs: { template: "again" } }));
    await canvas.getByLabel("Step hello_2").waitFor();
    // Unsaved, it survives a reload.
    await page.reload();
    await page.getByRole("button", { name: "Bring them back" }).click();
    await canvas.getByLabel("Step hello_2").waitFor();
    // The JSON view round-trips with the canvas.
    await page.getByRole("button", { name: "Show JSON" }).click();
    const whole = JSON.parse(await page.getByLabel("Workflow JSON").textContent());
    assert.equal(whole.steps[1].id, "hello_2", "the JSON shows what the canvas holds");
    whole.steps.splice(1, 1);
    whole.name = "Built and renamed";
    await paste(page, JSON.stringify(whole, null, 2));
    await page.getByRole("button", { name: "Apply to the canvas" }).click();
    await page.getByRole("button", { name: "Show canvas" }).click();
    await canvas.getByLabel("Step hello").waitFor();
    assert.equal(await canvas.getByLabel("Step hello_2").count(), 0);
    await page.getByRole("link", { name: "Built and renamed" }).waitFor();
    await page.keyboard.press("?");
    await page.getByRole("region", { name: "Keyboard shortcuts" }).waitFor();

    await page.setViewportSize({ width: 375, height: 740 });
    await page.getByRole("button", { name: "Show outline" }).click();
    const outline = page.getByRole("list", { name: "Outline" });
    // Drag a step onto another: it moves just after it.
    await outline.getByLabel("Outline step hello").dragTo(outline.getByLabel("Outline step check"));
    await page.waitForFunction(() => {
      const items = [...document.querySelectorAll('[aria-label^="Outline step "]')].map((item) => item.getAttribute("aria-label"));
      return items[0] === "Outline step check" && items.at(-1) === "Outline step hello";
    });
    await page.getByRole("button", { name: "Undo" }).click();
    await outline.getByRole("button", { name: /^write/ }).click();
    await page.getByRole("heading", { name: "write" }).waitFor();
    await fitsAPhone(page, "builder-outline");
  });

  await run("fix and resume: a failed run is fixed in the builder and resumed from its failed step", async (page) => {
    await signIn(page, email, "another long password");
    await page.setViewportSize({ width: 1280, height: 860 });
    const failed = await page.evaluate(async () => {
      const json = { "content-type": "application/json" };
      await fetch("/api/v1/workflows", {
        method: "POST",
        headers: json,
        body: JSON.stringify({
          id: "wf_fixme",
          name: "Fix me",
          steps: [
            { id: "first", type: "transformation", action: "set", inputs: { qty: "{{ trigger.qty }}" } },
            { id: "second", type: "transformation", action: "calculate", inputs: { expression: "trigger.price * first.qty" } },
          ],
        }),
      });
      const run = await fetch("/api/v1/workflows/wf_fixme/runs?wait=20", { method: "POST", headers: json, body: JSON.stringify({ input: { qty: 4 } }) });
      return run.json();
    });
    assert.equal(failed.state, "FAILED");
    await page.goto(`${base}/executions/${failed.id}`);
    await page.getByRole("link", { name: "Fix it in the builder" }).click();
    await page.getByText('This run failed at "second"').waitFor();
    const canvas = page.getByLabel("Workflow canvas");
    await canvas.getByLabel("Step second").getByText("Failed").waitFor();
    await canvas.getByLabel("Step second").getByRole("button").first().click();
    await page.getByLabel("Calculation (required)").fill("");
    await page.getByLabel("Insert a value into Calculation").selectOption({ label: "first: Qty" });
    await page.getByLabel("Calculation (required)").press("End");
    await page.getByLabel("Calculation (required)").pressSequentially(" * 5");
    await page.getByRole("button", { name: "Apply" }).click();
    await canvas.getByLabel("Step second").getByText("Calculate first.qty * 5").waitFor();
    await page.screenshot({ path: join(shots, "builder-fix.png") });
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByRole("button", { name: "Saved" }).waitFor();
    await page.getByRole("button", { name: 'Resume from "second"' }).click();
    await canvas.getByLabel("Step second").getByText("Completed").waitFor({ timeout: 15_000 });
    const resumed = await page.evaluate(async (id) => (await fetch(`/api/v1/executions/${id}`)).json(), failed.id);
    assert.equal(resumed.state, "COMPLETED");
    assert.equal(resumed.workflow_version, 2, "it ran the fixed version");
    assert.equal(resumed.output.result, 20);
    assert.equal(resumed.steps[0].finished_at, failed.steps[0].finished_at, "the step before was not run again");

    // A "Set values" step's form: each value by its name; a value added and removed.
    await canvas.getByLabel("Step first").getByRole("button").first().click();
    await page.getByLabel("qty", { exact: true }).waitFor();
    await page.getByLabel("A new value's name").fill("price");
    await page.getByRole("button", { name: "Add the value" }).click();
    await page.getByLabel("price", { exact: true }).pressSequentially("{{ trigger.price }}");
    await page.getByRole("button", { name: "Apply" }).click();
    await canvas.getByLabel("Step first").getByText("Set qty, price").waitFor();
    await canvas.getByLabel("Step first").getByRole("button").first().click();
    await page.getByRole("button", { name: "Remove price" }).click();
    await page.getByRole("button", { name: "Apply" }).click();
    await canvas.getByLabel("Step first").getByText("Set qty", { exact: true }).waitFor();
  });

  await run("a failed run is mailed to its owner with a link to it; who is told, and how soon, is chosen in the settings", async (page) => {
    await signIn(page, email, "another long password");
    const failed = await page.evaluate(async () => {
      const json = { "content-type": "application/json" };
      await fetch("/api/v1/workflows", {
        method: "POST",
        headers: json,
        body: JSON.stringify({
          id: "wf_broken",
          name: "Broken sum",
          steps: [{ id: "sum", type: "transformation", action: "calculate", inputs: { expression: "trigger.price * 2" } }],
        }),
      });
      const run = await fetch("/api/v1/workflows/wf_broken/runs?wait=20", { method: "POST", headers: json, body: "{}" });
      return run.json();
    });
    assert.equal(failed.state, "FAILED");
    // Its owner's mail links to it, within a round or two of the notifier.
    let link;
    for (let tries = 0; !link && tries < 60; tries += 1) {
      try {
        link = mailedNotice(data, "Broken sum");
      } catch {
        await page.waitForTimeout(500);
      }
    }
    assert.ok(link, "the failure was mailed");
    assert.ok(link.endsWith(`/executions/${failed.id}`), link);
    await page.goto(link);
    await page.getByText("Failed", { exact: true }).first().waitFor();

    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByRole("tab", { name: "My account" }).click();
    await page.getByLabel("E-mail me").selectOption("hourly");
    await page.getByRole("button", { name: "Save notifications" }).click();
    await page.getByText("Saved.").waitFor();
    await page.reload();
    await page.getByRole("tab", { name: "My account" }).click();
    assert.equal(await page.getByLabel("E-mail me").inputValue(), "hourly");
    await fitsAPhone(page, "settings-notifications");

    await page.goto(`${base}/workflows/wf_broken`);
    await page.getByLabel("Also e-mail").fill("nobody");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText('"nobody" is not an e-mail address').waitFor();
    await page.getByLabel("Also e-mail").fill("ops@example.com, boss@example.com");
    await page.getByLabel("Post in Slack channel").fill("#ops");
    await page.getByLabel("Tell people").selectOption("hourly");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText(/Saved as version \d+/).waitFor();
    const stored = await page.evaluate(async () => (await fetch("/api/v1/workflows/wf_broken")).json());
    assert.deepEqual(stored.definition.notify, { when: "hourly", emails: ["ops@example.com", "boss@example.com"], slack_channel: "#ops" });
    await page.reload();
    assert.equal(await page.getByLabel("Also e-mail").inputValue(), "ops@example.com, boss@example.com");
    assert.equal(await page.getByLabel("Tell people").inputValue(), "hourly");
  });

  await run("a scheduled workflow shows its next runs", async (page) => {
    await signIn(page, email, "another long password");
    await page.evaluate(() =>
      fetch("/api/v1/workflows", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          id: "wf_morning",
          name: "Morning report",
          trigger: { type: "schedule", cron: "0 9 * * MON-FRI", timezone: "Europe/Berlin" },
          steps: [{ id: "say", type: "transformation", action: "set", inputs: { hello: "world" } }],
        }),
      }),
    );
    await page.goto(`${base}/workflows/wf_morning`);
    await page.getByText("On a schedule (0 9 * * MON-FRI, Europe/Berlin)").waitFor();
    await page.getByText("It would next run (your time):").waitFor();
    const next = page.getByRole("listitem").filter({ hasText: /\d{4}/ });
    assert.equal(await next.count(), 5, "five next runs");
    await fitsAPhone(page, "workflow-schedule");
  });

  await run("a run over 40 items: browse them one by one, see the failed one and what to try", async (page) => {
    await signIn(page, email, "another long password");
    const id = await page.evaluate(async () => {
      const json = { "content-type": "application/json" };
      await fetch("/api/v1/workflows", {
        method: "POST",
        headers: json,
        body: JSON.stringify({
          id: "wf_rows",
          name: "Rows",
          steps: [
            { id: "each", type: "loop", items: "trigger.rows", steps: [
              { id: "double", type: "transformation", action: "calculate", inputs: { expression: "item.n * 2" } },
            ] },
          ],
        }),
      });
      const rows = Array.from({ length: 40 }, (_, n) => (n === 39 ? { m: 1 } : { n }));
      const run = await fetch("/api/v1/workflows/wf_rows/runs?wait=20", { method: "POST", headers: json, body: JSON.stringify({ input: { rows } }) });
      return (await run.json()).id;
    });
    await page.goto(`${base}/executions/${id}`);
    const loop = page.getByRole("listitem", { name: "Loop each" });
    await loop.getByText("40 items, 1 failed").waitFor();
    // The failed item is chosen first, with what to try.
    await loop.getByText("Item 40 of 40").waitFor();
    await loop.getByRole("button", { name: /^Item 40 Failed/ }).waitFor(); // in the list's view too
    await loop.getByText("Failed").first().waitFor(); // the loop itself failed, not "Running"
    await page.getByText(/What to try: A step reads a value/).first().waitFor();
    await fitsAPhone(page, "execution-loop");
    await loop.getByRole("button", { name: "Previous item" }).click();
    await loop.getByText("Item 39 of 40").waitFor();
    await loop.getByRole("listitem", { name: "Step double" }).getByText("Output").click();
    await loop.getByText('"result": 76').waitFor();
    await page.getByLabel("Items of each").evaluate((list) => list.scrollTo(0, 0));
    await loop.getByRole("button", { name: /^Item 1 Completed/ }).click();
    await loop.getByText("Item 1 of 40").waitFor();
    const rendered = await loop.getByRole("button", { name: /^Item \d+ / }).count();
    assert.ok(rendered < 40, `only the visible items are drawn (${rendered} of 40)`);

    // On the canvas too: the loop's card browses its items, its steps showing the one chosen.
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.goto(`${base}/workflows/wf_rows/build?execution=${id}`);
    const canvas = page.getByLabel("Workflow canvas");
    await canvas.getByLabel("Step each").getByText("item 40 of 40").waitFor();
    await canvas.getByLabel("Step double").getByText("Failed").waitFor();
    await canvas.getByRole("button", { name: "Item before, in each" }).click();
    await canvas.getByLabel("Step each").getByText("item 39 of 40").waitFor();
    await canvas.getByLabel("Step double").getByText("Completed").waitFor();
  });

  await run("an approval is answered from the inbox on a phone", async (page) => {
    await signIn(page, email, "another long password");
    const started = await page.evaluate(async () => {
      const json = { "content-type": "application/json" };
      await fetch("/api/v1/workflows", {
        method: "POST",
        headers: json,
        body: JSON.stringify({
          id: "wf_refund",
          name: "Refund",
          steps: [
            { id: "ask", type: "approval", message: "Refund {{ trigger.amount }} to Bea?" },
            { id: "note", type: "transformation", action: "set", inputs: { approved: "{{ ask.approved }}" } },
          ],
        }),
      });
      const run = await fetch("/api/v1/workflows/wf_refund/runs", {
        method: "POST",
        headers: json,
        body: JSON.stringify({ input: { amount: "$40" } }),
      });
      return (await run.json()).id;
    });
    await page.getByRole("link", { name: "Approvals" }).click();
    await page.getByRole("heading", { name: "Approvals" }).waitFor();
    const question = page.getByRole("listitem", { name: /Approval ask of wf_refund/ });
    await question.getByText("Refund $40 to Bea?").waitFor({ timeout: 15_000 });
    await fitsAPhone(page, "approvals");
    await question.getByLabel("Comment (optional)").fill("fine by me");
    await question.getByRole("button", { name: "Approve" }).click();
    await page.getByText("Approved “Refund $40 to Bea?”: the run goes on.").waitFor();
    await question.waitFor({ state: "detached" }); // answered, it leaves the inbox
    await page.goto(`${base}/executions/${started}`);
    await page.getByText("Completed").first().waitFor({ timeout: 15_000 });
  });

  await run("invite a Viewer, who joins from the mailed link and is offered no changes", async (page) => {
    await signIn(page, email, "another long password");
    await page.getByRole("link", { name: "Team" }).click();
    await page.getByRole("heading", { name: "Team" }).waitFor();
    await page.getByLabel("Their email").fill("viewer@example.com");
    await page.getByLabel("Role").selectOption("viewer");
    await page.getByRole("button", { name: "Send invitation" }).click();
    await page.getByText("Invitation mailed to viewer@example.com.").waitFor();
    await page.getByText("viewer@example.com · viewer").waitFor();
    await page.getByRole("button", { name: "Resend" }).click();
    await page.getByText("Invitation mailed again to viewer@example.com, with a new link.").waitFor();
    await fitsAPhone(page, "team");

    const invitee = await browser.newContext({ viewport: { width: 375, height: 740 } });
    const joining = await invitee.newPage();
    try {
      await joining.goto(mailedLink(data, "/invite"));
      await joining.getByRole("heading", { name: "Join your team on Baton" }).waitFor();
      await joining.getByLabel("Your name").fill("Vic Viewer");
      await joining.getByLabel("Password").fill("a quiet reading lamp");
      await fitsAPhone(joining, "invite");
      await joining.getByRole("button", { name: "Join" }).click();
      await joining.getByRole("heading", { name: "Home" }).waitFor();
      await joining.getByText("(viewer)").waitFor();
      await joining.getByRole("link", { name: "Workflows", exact: true }).click();
      await joining.getByRole("heading", { name: "Workflows" }).waitFor();
      await joining.getByRole("link", { name: "Order total" }).waitFor();
      assert.equal(await joining.getByRole("link", { name: "New workflow" }).count(), 0, "no New workflow for a Viewer");
      await joining.getByRole("link", { name: "Order total" }).click();
      await joining.getByRole("heading", { name: "Order total" }).waitFor();
      assert.equal(await joining.getByRole("button", { name: "Run now" }).count(), 0, "no Run now for a Viewer");
      assert.equal(await joining.getByRole("switch").count(), 0, "no on/off switch for a Viewer");
      assert.equal(await joining.getByRole("button", { name: "Delete" }).count(), 0, "no Delete for a Viewer");
      await joining.getByRole("link", { name: "See it drawn" }).click();
      await joining.getByText("builder (read only)").waitFor();
      assert.equal(await joining.getByRole("button", { name: /Add a step/ }).count(), 0, "no + for a Viewer");
      assert.equal(await joining.getByRole("button", { name: "Save" }).count(), 0, "no Save for a Viewer");
      await joining.goBack();
      const forced = await joining.evaluate(async () => {
        const response = await fetch("/api/v1/workflows/wf_total/runs", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
        });
        return response.status;
      });
      assert.equal(forced, 403, "the API refuses what the page does not offer");
      await joining.getByRole("link", { name: "Team" }).click();
      await joining.getByText("Ann Owner").waitFor();
      assert.equal(await joining.getByRole("button", { name: "Send invitation" }).count(), 0, "a Viewer invites nobody");
      await joining.getByRole("button", { name: "Leave organization" }).waitFor();
    } catch (error) {
      await joining.screenshot({ path: join(shots, "FAILED-invitee.png") }).catch(() => {});
      throw error;
    } finally {
      await invitee.close();
    }
  });

  await run("connect an AI provider with an API key, test it, remove it", async (page) => {
    await signIn(page, email, "another long password");
    await page.getByRole("link", { name: "Integrations" }).click();
    await page.getByRole("heading", { name: "Integrations" }).waitFor();
    const openai = page.getByRole("listitem", { name: "OpenAI", exact: true });
    await openai.getByRole("button", { name: "Connect OpenAI" }).click();
    await openai.getByLabel("OpenAI API key").fill("sk-test-not-a-real-key");
    await fitsAPhone(page, "integrations-connect");
    await openai.getByRole("button", { name: "Save connection" }).click();
    const connection = openai.getByRole("listitem", { name: "Connection openai" });
    await connection.getByText("Connected").waitFor();
    assert.equal(await page.getByText("sk-test-not-a-real-key").count(), 0, "the key is never shown");
    await connection.getByRole("button", { name: "Test" }).click();
    await connection
      .getByText("It did not work: openai answered HTTP 401: Incorrect API key provided (check the openai credential).")
      .waitFor({ timeout: 20_000 });
    await connection.getByRole("button", { name: "Rename" }).click();
    await connection.getByLabel("New name").fill("openai main");
    await connection.getByRole("button", { name: "Save name" }).click();
    const renamed = openai.getByRole("listitem", { name: "Connection openai main" });
    await renamed.getByText("Renamed.").waitFor();
    await fitsAPhone(page, "integrations");
    await renamed.getByRole("button", { name: "Remove" }).click();
    await renamed.waitFor({ state: "detached" });

    // OAuth: the consent page opens in a new window straight from the click.
    const gmail = page.getByRole("listitem", { name: "Gmail", exact: true });
    await gmail.getByRole("button", { name: "Connect Gmail" }).click();
    const [consent] = await Promise.all([
      page.context().waitForEvent("page"),
      gmail.getByRole("button", { name: "Continue to Gmail" }).click(),
    ]);
    await consent.waitForURL(/\/o\/oauth2\/v2\/auth/);
    const asked = new URL(consent.url());
    assert.equal(asked.origin, google.base, `the consent page opened: ${consent.url()}`);
    assert.equal(asked.searchParams.get("client_id"), "baton-test.apps.googleusercontent.com");
    assert.equal(asked.searchParams.get("code_challenge_method"), "S256");
    await consent.close();

    // Notion, with no OAuth app set up here, takes its integration's secret pasted in.
    const notionCard = page.getByRole("listitem", { name: "Notion", exact: true });
    await notionCard.getByRole("button", { name: "Connect Notion" }).click();
    await notionCard.getByLabel("Notion internal integration secret").fill("ntn_e2e");
    await fitsAPhone(page, "integrations-notion");
    await notionCard.getByRole("button", { name: "Save connection" }).click();
    const notionConnection = notionCard.getByRole("listitem", { name: "Connection notion" });
    await notionConnection.getByRole("button", { name: "Test" }).click();
    await notionConnection.getByText("It works: Baton reached the service with it.").waitFor({ timeout: 20_000 });

    // HubSpot takes a private app's token the same way; a wrong one is said to fail.
    const hubspotCard = page.getByRole("listitem", { name: "HubSpot", exact: true });
    await hubspotCard.getByRole("button", { name: "Connect HubSpot" }).click();
    await hubspotCard.getByLabel("HubSpot private app access token").fill("pat-na1-wrong");
    await hubspotCard.getByRole("button", { name: "Save connection" }).click();
    const hubspotConnection = hubspotCard.getByRole("listitem", { name: "Connection hubspot" });
    await hubspotConnection.getByRole("button", { name: "Test" }).click();
    await hubspotConnection.getByText(/It did not work: hubspot answered HTTP 401/).waitFor({ timeout: 20_000 });

    // A mailbox on any mail server: a form built from the connector's fields. A server given as
    // a URL is named as the field to fix; one on an internal address is refused when tested,
    // with the setting that allows it.
    const mailCard = page.getByRole("listitem", { name: "Email (IMAP/SMTP)", exact: true });
    await mailCard.getByRole("button", { name: "Connect Email (IMAP/SMTP)" }).click();
    await mailCard.getByLabel("Email address").fill("ann@acme.test");
    await mailCard.getByLabel("Password").fill("mail-password-e2e");
    await mailCard.getByLabel("IMAP server").fill("imaps://127.0.0.1");
    await mailCard.getByLabel("SMTP server").fill("127.0.0.1");
    assert.equal(await mailCard.getByLabel("IMAP port").inputValue(), "993");
    assert.equal(await mailCard.getByLabel("SMTP security").inputValue(), "starttls");
    await mailCard.getByLabel("IMAP security").selectOption("tls");
    await mailCard.getByLabel("Accept a self-signed certificate").check();
    await fitsAPhone(page, "integrations-email");
    await mailCard.getByRole("button", { name: "Save connection" }).click();
    await mailCard.getByText(/Imap host: .*without a scheme or port/).waitFor();
    await mailCard.getByLabel("IMAP server").fill("127.0.0.1");
    await mailCard.getByRole("button", { name: "Save connection" }).click();
    const mailConnection = mailCard.getByRole("listitem", { name: "Connection email" });
    await mailConnection.getByRole("button", { name: "Test" }).click();
    await mailConnection.getByText(/It did not work: the mail server 127\.0\.0\.1 is at an internal address .*BATON_HTTP_ALLOW/).waitFor({ timeout: 20_000 });
    assert.equal(await page.getByText("mail-password-e2e").count(), 0, "the password is never shown");

    // A service that needs no connection says so rather than showing nothing.
    await page.getByRole("listitem", { name: "Zapier", exact: true }).getByText("Nothing to connect: use its steps in a workflow").waitFor();
    const http = page.getByRole("listitem", { name: "HTTP request", exact: true });
    await http.getByRole("button", { name: "Add HTTP credential" }).click();
    await http.getByLabel("Credential name").fill("crm");
    await http.getByLabel("How it signs in").selectOption("header");
    await http.getByLabel("Header name").fill("X-Api-Key");
    await http.getByLabel("Header value").fill("crm-secret-value");
    await http.getByLabel("Hosts it may be sent to").fill("api.crm.example");
    await fitsAPhone(page, "integrations-http");
    await http.getByRole("button", { name: "Save credential" }).click();
    await http.getByRole("listitem", { name: "Connection crm" }).getByText("Connected").waitFor();
    assert.equal(await page.getByText("crm-secret-value").count(), 0, "the secret is never shown");
  });

  await run("the seed's email draft built by clicking: connect Gmail and OpenAI, map fields, test steps, run it green, break it, fix it and resume without a second AI call", async (page) => {
    await signIn(page, email, "another long password");
    await page.setViewportSize({ width: 1280, height: 900 });
    // Connect OpenAI with a key, and Gmail through Google's consent page.
    await page.getByRole("link", { name: "Integrations" }).click();
    const ai = page.getByRole("listitem", { name: "OpenAI", exact: true });
    await ai.getByRole("button", { name: "Connect OpenAI" }).click();
    await ai.getByLabel("OpenAI API key").fill("sk-test-good");
    await ai.getByRole("button", { name: "Save connection" }).click();
    await ai.getByRole("listitem", { name: "Connection openai" }).getByText("Connected").waitFor();
    const gmail = page.getByRole("listitem", { name: "Gmail", exact: true });
    await gmail.getByRole("button", { name: "Connect Gmail" }).click();
    const [consent] = await Promise.all([page.context().waitForEvent("page"), gmail.getByRole("button", { name: "Continue to Gmail" }).click()]);
    await consent.getByRole("link", { name: "Allow" }).click();
    await consent.getByRole("heading", { name: "gmail is connected" }).waitFor();
    await consent.close();

    // A new workflow, built step by step.
    await page.getByRole("link", { name: "Workflows" }).click();
    await page.getByRole("link", { name: "New workflow" }).click();
    await page.getByLabel("Its name").fill("Reply to support mail");
    await page.getByRole("button", { name: "Open the builder" }).click();
    const canvas = page.getByLabel("Workflow canvas");
    const card = (id) => canvas.getByLabel(`Step ${id}`);
    const choose = (id) => card(id).getByRole("button").first().click();
    const addAtEnd = async (search, label) => {
      // The canvas draws only what is in view: the end of the workflow is brought into it.
      await page.getByRole("button", { name: "Fit View" }).click();
      await canvas.getByRole("button", { name: /^\+ Add (a|the first) step$/ }).click();
      await page.getByLabel("Search").fill(search);
      await page.getByRole("button", { name: label }).click();
    };
    /** Empties a field of the step's form and fills it with `typed`, then values picked from earlier steps. */
    const map = async (field, typed, ...picked) => {
      await page.getByLabel(field, { exact: true }).fill(typed);
      for (const label of picked) await page.getByLabel(`Insert a value into ${field.replace(" (required)", "")}`).selectOption({ label });
    };
    await addAtEnd("read", "Read a message: from, to, subject, the body as text, its thread.");
    await card("read_email").waitFor();
    // Test the first step alone against the mailbox, with sample trigger data typed in.
    await choose("read_email");
    const tester = page.getByRole("region", { name: "Test this step" });
    await tester.getByLabel("Sample trigger data (JSON)").fill('{"email_id": "m1"}');
    await tester.getByRole("button", { name: "Test this step" }).click();
    const result = page.getByRole("region", { name: "Test result" });
    await result.getByText("Data typed in").waitFor();
    await result.getByLabel("Step output").getByText('"from": "ann@customer.example"').waitFor();

    await addAtEnd("ask", "Ask an AI model");
    await choose("ask_ai");
    // A choice takes a fixed value or one from earlier steps; switching loses neither.
    const provider = page.getByRole("group", { name: "How AI provider is set" });
    await provider.getByRole("button", { name: "From earlier steps" }).click();
    await page.getByLabel("AI provider (required)", { exact: true }).pressSequentially("{{ trigger.provider }}");
    await provider.getByRole("button", { name: "Fixed value" }).click();
    assert.equal(await page.getByLabel("AI provider (required)").inputValue(), "openai");
    await provider.getByRole("button", { name: "From earlier steps" }).click();
    assert.equal(await page.getByLabel("AI provider (required)", { exact: true }).textContent(), "{{ trigger.provider }}");
    await provider.getByRole("button", { name: "Fixed value" }).click();
    await map("Prompt (required)", "Write a short, kind reply to this email from ", "read_email: From", "read_email: Body");
    // The answer's shape, in plain words: one named value later steps can use.
    const answer = page.getByRole("region", { name: "Answer fields" });
    await answer.getByLabel("Field name").fill("reply");
    await answer.getByLabel("What it holds").fill("the reply, without a signature");
    await answer.getByRole("button", { name: "Add the field" }).click();
    await answer.getByText("reply · text · the reply, without a signature").waitFor();
    await page.getByRole("button", { name: "Apply" }).click();
    // The model answers with JSON in its text: the next step extracts it.
    await addAtEnd("extract", "Extract JSON from text");
    await choose("extract_json");
    await map("Text holding JSON (required)", "", "ask_ai: Response");
    await page.getByRole("button", { name: "Apply" }).click();
    await addAtEnd("if", "If / else");
    await choose("check");
    await map("Condition (required)", "'order' in", "read_email: Subject");
    await page.getByRole("button", { name: "Apply" }).click();
    await card("check").getByText("If 'order' in read_email.subject").waitFor();
    await page.getByRole("button", { name: "Fit View" }).click();
    await canvas.getByRole("button", { name: "+ Add a step (if true)" }).click();
    await page.getByLabel("Search").fill("draft");
    await page.getByRole("button", { name: "Save a draft; with reply_to, a reply in the message's thread." }).click();
    await choose("save_draft");
    await page.getByText("Example: ann@customer.com").waitFor(); // from the action's example
    await map("To (required)", "", "read_email: From");
    // The value cards: a click puts the value into the field last typed in.
    await map("Subject (required)", "Re:");
    await page.getByRole("region", { name: "Values from earlier steps" }).getByRole("button", { name: /^read_email: Subject/ }).click();
    assert.equal(await page.getByLabel("Subject (required)", { exact: true }).textContent(), "Re: {{ read_email.subject }}");
    // The model's answer field, offered by name.
    await map("Body (required)", "", "ask_ai: Reply");
    await map("Reply to", "", "read_email: Id");
    await page.getByRole("button", { name: "Apply" }).click();
    await card("save_draft").getByText("Save draft in Gmail to {{read_email.from}}").waitFor();
    await page.screenshot({ path: join(shots, "builder-email-draft.png") });
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByRole("button", { name: "Saved" }).waitFor();
    const built = await page.evaluate(async () => (await (await fetch("/api/v1/workflows/wf_reply_to_support_mail")).json()).definition);
    assert.deepEqual(
      built.steps.map((step) => step.id),
      ["read_email", "ask_ai", "extract_json", "check"],
    );
    assert.equal(built.steps[3].then[0].inputs.to, "{{ read_email.from }}", "the picker wrote a reference by step id");
    assert.deepEqual(built.steps[1].output_schema, {
      type: "object",
      properties: { reply: { type: "string", description: "the reply, without a signature" } },
      required: ["reply"],
    });
    assert.equal(built.steps[3].then[0].inputs.body, "{{ ask_ai.reply }}");

    // A test run: every step turns green; the model is asked once, one draft is saved in the thread.
    await page.getByText("Test input").click();
    await page.getByLabel("What the trigger gives a test run (JSON)").fill('{"email_id": "m1"}');
    await page.getByRole("button", { name: "Test run" }).click();
    for (const id of ["read_email", "ask_ai", "extract_json", "check", "save_draft"]) {
      await card(id).getByText("Completed").waitFor({ timeout: 20_000 });
    }
    assert.equal(openai.state.calls, 1);
    assert.equal(google.state.drafts.length, 1);
    assert.match(google.state.drafts[0], /^To: ann@customer\.example\r$/m);
    assert.match(google.state.drafts[0], /^In-Reply-To: <order-42@customer\.example>\r$/m);
    assert.match(openai.state.prompts[0], /from ann@customer\.example Hello, my order 42/);
    const drafted = Buffer.from(google.state.drafts[0].split("\r\n\r\n")[1].replaceAll("\r\n", ""), "base64").toString("utf8");
    assert.equal(drafted, REPLY, "the draft's body is the reply from the model's answer");
    assert.equal(openai.state.formats[0]?.type, "json_schema", "OpenAI was asked for the answer's shape");
    assert.deepEqual(openai.state.formats[0]?.json_schema.schema.required, ["reply"]);

    // A safe test of the step that writes, with the run's data: what it would send, nothing sent.
    await choose("save_draft");
    await tester.getByRole("button", { name: "Test this step" }).click();
    await result.getByText("Not sent: safe test").waitFor();
    await result.getByText(/Data from the run of/).waitFor();
    await result.getByLabel("Step input").getByText('"to": "ann@customer.example"').waitFor();
    assert.equal(google.state.drafts.length, 1, "a safe test saves no draft");

    // Break it: a recipient that is no address. The run fails at that step, after the model answered.
    await map("To (required)", "the support team");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByRole("button", { name: "Saved" }).waitFor();
    await page.getByRole("button", { name: "Test run" }).click();
    await card("save_draft").getByText("Failed").waitFor({ timeout: 20_000 });
    await page.getByText('This run failed at "save_draft"').waitFor();
    await page.getByText(/Invalid To header/).first().waitFor();
    assert.equal(openai.state.calls, 2);

    // Fix it, save, resume from the failed step: the model's answer is reused, not asked again.
    // This time by typing {{ : the values are offered with what the last run held (the cards show it too).
    await choose("save_draft");
    await page
      .getByRole("region", { name: "Values from earlier steps" })
      .getByRole("button", { name: /^read_email: From/ })
      .getByText("ann@customer.example")
      .waitFor();
    await map("To (required)", "");
    await page.getByLabel("To (required)", { exact: true }).pressSequentially("{{ read_email.f");
    const offered = page.getByRole("listbox").getByRole("option", { name: /read_email\.from/ });
    await offered.getByText("ann@customer.example").waitFor();
    await offered.click();
    assert.equal(await page.getByLabel("To (required)", { exact: true }).textContent(), "{{ read_email.from }}");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByLabel("What changed (optional)").fill("The draft goes to the sender again");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByRole("button", { name: "Saved" }).waitFor();
    await page.getByRole("button", { name: 'Resume from "save_draft"' }).click();
    await card("save_draft").getByText("Completed").waitFor({ timeout: 20_000 });
    assert.equal(openai.state.calls, 2, "resuming asked the model nothing more");
    assert.equal(google.state.drafts.length, 2);
    await page.screenshot({ path: join(shots, "builder-email-draft-resumed.png") });
    // The versions say, in the saver's words, what the fix was.
    await page.getByRole("link", { name: "Reply to support mail" }).click();
    await page.getByRole("tab", { name: "Versions" }).click();
    await page.getByText("“The draft goes to the sender again”").waitFor();
  });

  await run("describe a workflow in words: the AI's draft is shown with what is left to connect, and opens in the builder", async (page) => {
    await signIn(page, email, "another long password");
    await page.getByRole("link", { name: "Workflows" }).click();
    await page.getByRole("link", { name: "New workflow" }).click();
    const describeIt = page.getByRole("region", { name: "Describe it" });
    await describeIt.getByLabel("What should it do?").fill("When an urgent email arrives, tell the team in Slack");
    await describeIt.getByRole("button", { name: "Write it for me" }).click();
    const proposal = page.getByRole("region", { name: "Proposed workflow" });
    await proposal.getByRole("heading", { name: "Urgent mail to Slack" }).waitFor();
    await proposal.getByText("Read email in Gmail").waitFor();
    // Gmail and OpenAI are connected (an earlier flow did it); Slack is not.
    await proposal.getByText("Connect Slack: the workflow uses it and there is no connection yet").waitFor();
    assert.equal(await proposal.getByText("Connect Gmail").count(), 0);
    assert.equal(openai.state.drafts, 1);
    await page.screenshot({ path: join(shots, "describe-it.png") });
    await proposal.getByRole("button", { name: "Use this draft" }).click();
    await page.waitForURL(/\/workflows\/wf_urgent_mail_to_slack\/build$/);
    // The builder shows the drafted steps (as a list on a phone's width).
    await page.getByText("Post message in Slack to #support").waitFor();
  });

  await run("an AI agent built by clicking: a Gmail tool that asks first; a test run waits for the approval, then the agent finishes", async (page) => {
    await signIn(page, email, "another long password");
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.getByRole("link", { name: "Workflows" }).click();
    await page.getByRole("link", { name: "New workflow" }).click();
    await page.getByLabel("Its name").fill("Order agent");
    await page.getByRole("button", { name: "Open the builder" }).click();
    const canvas = page.getByLabel("Workflow canvas");
    await page.getByRole("button", { name: "Fit View" }).click();
    await canvas.getByRole("button", { name: /^\+ Add (a|the first) step$/ }).click();
    await page.getByLabel("Search").fill("agent");
    await page.getByRole("button", { name: "AI agent with tools" }).click();
    await canvas.getByLabel("Step agent").getByRole("button").first().click();
    await page.getByLabel("Goal (required)", { exact: true }).fill("Answer Ann about her order 42 with a draft.");
    const tools = page.getByRole("region", { name: "Agent tools" });
    await tools.getByLabel("Action to allow").selectOption({ value: "gmail/save_draft" });
    await tools.getByLabel("Ask a person before each use").check();
    await tools.getByRole("button", { name: "Add the tool" }).click();
    await tools.getByText("save_draft · gmail/save_draft · asks a person first").waitFor();
    await page.getByRole("button", { name: "Apply" }).click();
    await canvas.getByLabel("Step agent").getByText("AI agent (gpt-4o-mini) with save_draft").waitFor();
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByRole("button", { name: "Saved" }).waitFor();
    const drafts = google.state.drafts.length;
    await page.getByRole("button", { name: "Test run" }).click();
    // The agent works (its turn asked for the tool) while the call waits for a person.
    await canvas.getByLabel("Step agent").getByText("Running").waitFor({ timeout: 20_000 });
    await page.getByRole("link", { name: "Approvals" }).click();
    const question = page.getByRole("listitem", { name: /Approval agent\[1\]\.save_draft_approval of wf_order_agent/ });
    await question.getByText(/The agent asks to use save_draft/).waitFor({ timeout: 20_000 });
    assert.equal(google.state.drafts.length, drafts, "nothing is saved before a person approves");
    await question.getByRole("button", { name: "Approve" }).click();
    await question.waitFor({ state: "detached" });
    await page.getByRole("link", { name: "Runs" }).click();
    await page.getByRole("link", { name: /Order agent/ }).first().click();
    await page.getByText("Completed").first().waitFor({ timeout: 20_000 });
    // The agent's record: its turns, and its answer in its output.
    await page.getByText("2 turns").first().waitFor();
    await page.getByText("Answer: I saved a draft for Ann.").waitFor();
    assert.equal(google.state.drafts.length, drafts + 1, "the approved draft was saved once");
    assert.equal(openai.state.agentTurns, 2, "two turns: the call, then the answer");
    await page.screenshot({ path: join(shots, "agent-run.png"), fullPage: true });
  });

  await run("set the AI budget, make an API key that works until it is revoked", async (page) => {
    await signIn(page, email, "another long password");
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByRole("heading", { name: "Settings" }).waitFor();
    await page.getByLabel("AI budget per month (US dollars)").fill("25");
    await page.getByLabel("Keep run history for (days)").fill("90");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText("Saved.").waitFor();
    const kept = await page.evaluate(async () => (await (await fetch("/api/v1/organization")).json()).organization.retention_days);
    assert.equal(kept, 90, "the run history is kept 90 days");
    await page.getByLabel("Key name").fill("Zapier");
    await page.getByLabel("Acts as").selectOption("viewer");
    await page.getByRole("button", { name: "Make a key" }).click();
    const key = (await page.getByLabel("The new API key").textContent()).trim();
    assert.ok(key.length > 20, `a key was shown: ${key}`);
    await fitsAPhone(page, "settings");
    const status = (token) =>
      page.evaluate(async (bearer) => {
        const response = await fetch("/api/v1/workflows", { headers: { authorization: `Bearer ${bearer}` }, credentials: "omit" });
        return response.status;
      }, token);
    assert.equal(await status(key), 200, "the key works");
    await page.getByRole("button", { name: "Done" }).click();
    assert.equal(await page.getByText(key).count(), 0, "the key is not shown again");
    await page.getByRole("listitem", { name: "API key Zapier" }).getByRole("button", { name: "Revoke" }).click();
    await page.getByRole("listitem", { name: "API key Zapier" }).waitFor({ state: "detached" });
    assert.equal(await status(key), 401, "a revoked key is refused");

    // A key for an app that calls the AI gateway as it would call OpenAI; its use is shown by key.
    await page.getByLabel("Key name").fill("Shop app");
    await page.getByLabel("Acts as").selectOption("member");
    await page.getByRole("button", { name: "Make a key" }).click();
    const shopKey = (await page.getByLabel("The new API key").textContent()).trim();
    await page.getByRole("button", { name: "Done" }).click();
    const gateway = page.getByRole("region", { name: "AI gateway" });
    await gateway.getByText("No calls through the gateway in this period.").waitFor();
    const answered = await page.evaluate(async (bearer) => {
      const response = await fetch("/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
        credentials: "omit",
        body: JSON.stringify({ model: "openai/gpt-4o-mini", messages: [{ role: "user", content: "Hello" }] }),
      });
      return { status: response.status, body: await response.json() };
    }, shopKey);
    assert.equal(answered.status, 200, JSON.stringify(answered.body));
    assert.equal(answered.body.object, "chat.completion");
    await page.reload();
    const row = page.getByRole("row", { name: "Use of key Shop app" });
    await row.getByRole("cell", { name: "1", exact: true }).waitFor();
    await row.getByText("120 / 30").waitFor();
    await page.getByRole("link", { name: "Home", exact: true }).click();
    await page.getByText("of $25.00").waitFor();
  });

  await run("my account: name, password, two-factor with a QR code, a recovery code; organization name, AI price, audit log, switching organizations", async (page) => {
    await page.goto(`${base}/sign-up`);
    await page.getByLabel("Your name").fill("Sam");
    await page.getByLabel("Work email").fill("sam@example.com");
    await page.getByLabel("Password").fill("sam's first password");
    await page.getByLabel("Company name").fill("Sam's Shop");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("heading", { name: "Home" }).waitFor();
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByLabel("Organization name").fill("Sam's Bakery");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByRole("banner").getByText("Sam's Bakery").waitFor();
    await page.getByLabel("Model (or the start of its name)").fill("gpt-4o-mini");
    await page.getByLabel("Input, dollars per million tokens").fill("0.1");
    await page.getByLabel("Output, dollars per million tokens").fill("0.4");
    await page.getByRole("button", { name: "Set price" }).click();
    await page.getByRole("list", { name: "Your prices" }).getByText("gpt-4o-mini (openai): $0.10 in, $0.40 out").waitFor();
    await fitsAPhone(page, "settings-organization");

    await page.getByRole("tab", { name: "My account" }).click();
    await page.getByLabel("Your name").fill("Sam Smith");
    await page.getByRole("button", { name: "Save name" }).click();
    await page.getByRole("banner").getByText("Sam Smith").waitFor();
    await page.getByLabel("Current password").fill("not my password");
    await page.getByLabel("New password").fill("sam's second password");
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByText("Current password: is not your current password").waitFor();
    await page.getByLabel("Current password").fill("sam's first password");
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByText("Your password is changed").waitFor();

    await page.getByRole("button", { name: "Turn on two-factor" }).click();
    const qr = page.getByRole("img", { name: "QR code to add Baton to an authenticator app" });
    await qr.waitFor();
    assert.ok(await qr.evaluate((image) => image.complete && image.naturalWidth > 100), "the QR code is drawn");
    await fitsAPhone(page, "settings-two-factor");
    const secret = (await page.getByLabel("Two-factor key").textContent()).trim();
    await page.getByLabel("Code from the app").fill(totp(secret));
    await page.getByRole("button", { name: "Confirm and turn on" }).click();
    await page.getByRole("list", { name: "Recovery codes" }).waitFor();
    const codes = await page.getByRole("list", { name: "Recovery codes" }).getByRole("listitem").allTextContents();
    assert.ok(codes.length >= 8, `recovery codes are shown: ${codes}`);
    await page.getByText("On: signing in asks for a code").waitFor();
    await page.getByRole("button", { name: "I saved them" }).click();

    await page.getByRole("tab", { name: "Audit log" }).click();
    const log = page.getByRole("list", { name: "Audit log" });
    await log.getByText("turned on two-factor sign-in").first().waitFor();
    await page.getByLabel("What").selectOption("ai.price_set");
    await log.getByText("set an AI model's price").waitFor();
    assert.equal(await log.getByText("turned on two-factor sign-in").count(), 0, "the filter leaves the rest out");
    await fitsAPhone(page, "settings-audit");

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.getByLabel("Email").fill("sam@example.com");
    await page.getByLabel("Password").fill("sam's second password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByLabel("Two-factor code").fill(codes[0]);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Home" }).waitFor();

    await page.evaluate(() =>
      fetch("/api/v1/organizations", { method: "POST", headers: { "content-type": "application/json" }, body: '{"name": "Side Project"}' }),
    );
    await page.reload();
    await page.getByLabel("Organization").selectOption({ label: "Side Project" });
    await page.getByRole("link", { name: "Workflows", exact: true }).click();
    await page.getByText("No workflows yet.").waitFor();
    await fitsAPhone(page, "organization-switched");
  });

  await run("a new account makes the email-draft template run from the gallery: Gmail and OpenAI connected in place, settings chosen, a test run that saves a draft, switched on, in at most 12 clicks", async (page) => {
    await signUpFresh(page, base, "dana@bakery.example");
    const draftsBefore = google.state.drafts.length;
    await page.getByRole("link", { name: "Templates" }).click();
    await page.getByRole("heading", { name: "Templates" }).waitFor();
    await fitsAPhone(page, "templates-gallery");
    // Filters narrow the gallery: advanced sales templates are fewer than all of them.
    const cards = page.getByRole("main").getByRole("listitem");
    const all = await cards.count();
    await page.getByLabel("Category").selectOption("sales");
    await page.getByLabel("Difficulty").selectOption("intermediate");
    await page.getByRole("link", { name: "Score new leads and post the hot ones to Slack" }).waitFor();
    assert.ok((await cards.count()) < all, "the filters narrow the list");
    await page.getByLabel("Search templates").fill("weekly report");
    await page.getByRole("link", { name: "Weekly sales report to Slack" }).waitFor();
    await page.getByRole("link", { name: "Score new leads and post the hot ones to Slack" }).waitFor({ state: "detached" });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.getByRole("link", { name: "Home" }).click();
    const { clicks, output } = await emailDraftFromTemplate(page);
    assert.ok(clicks <= 12, `${clicks} clicks`);
    assert.match(output, /"draft_id"/, output);
    assert.equal(google.state.drafts.length, draftsBefore + 1, "the test run saved one draft");
    const draft = google.state.drafts.at(-1);
    assert.match(draft, /^Subject: Re: Where is my order\?\r?$/m);
    assert.match(draft, /^In-Reply-To: <order-42@customer\.example>\r?$/m);
    const text = Buffer.from(draft.split(/\r?\n\r?\n/)[1].replace(/\s/g, ""), "base64").toString();
    assert.ok(text.includes(REPLY) && text.endsWith("Best regards"), text);
    await page.setViewportSize({ width: 375, height: 740 });
    await fitsAPhone(page, "templates-wizard-done");
    // The gallery now counts the use, and the person can rate it.
    await page.getByRole("link", { name: "All templates" }).click();
    await page.getByRole("link", { name: "Draft replies to support email" }).click();
    await page.getByText("Used 1 time", { exact: true }).waitFor();
    await page.getByRole("group", { name: "Rate this template" }).getByRole("button", { name: "5 of 5" }).click();
    await page.getByText("You gave it 5 of 5.").waitFor();
    await page.getByLabel("Rated 5 of 5 by 1").waitFor();
    // The workflow is in the list, switched on; its owner offers it to the organization as a
    // template of its own, which the gallery then shows, and removes it again.
    await page.getByRole("link", { name: "Workflows" }).click();
    await page.getByRole("link", { name: "Draft replies to support email" }).click();
    await page.getByRole("button", { name: "Offer it as a template" }).click();
    const share = page.getByRole("form", { name: "Offer it as a template" });
    await share.getByLabel("Template name").fill("Bakery replies");
    await share.getByLabel("What it does, in one sentence").fill("Drafts our replies the bakery way.");
    await share.getByLabel("Category").selectOption("customer_support");
    await share.getByRole("button", { name: "Offer as a template" }).click();
    await page.getByRole("link", { name: "see the template" }).click();
    await page.getByText("By Dana's Bakery, for your organization only").waitFor();
    await page.getByText("Gmail: read email").waitFor();
    await page.getByRole("button", { name: "Remove this template" }).click();
    await page.getByRole("button", { name: "Remove template" }).click();
    await page.getByRole("heading", { name: "Templates" }).waitFor();
    assert.equal(await page.getByRole("link", { name: "Bakery replies" }).count(), 0);
  });

  await run("Google sign-in is offered when set up; its two-factor step says when nothing waits", async (page) => {
    await page.goto(`${base}/sign-in`);
    const google = page.getByRole("link", { name: "Sign in with Google" });
    await google.waitFor();
    assert.equal(await google.getAttribute("href"), "/api/v1/auth/google/start");
    await page.goto(`${base}/sign-in/two-factor`);
    await page.getByLabel("Two-factor code").fill("123456");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("alert").getByText(/no sign-in is waiting/i).waitFor();
    await fitsAPhone(page, "sign-in-two-factor");
  });

  await run("feedback from the foot of any page: a problem with the last error, a rating; the owners read it beside the usage of the last 30 days", async (page) => {
    await signIn(page, email, "another long password");
    await page.goto(`${base}/workflows/wf_nowhere`);
    await page.getByRole("alert").first().waitFor();
    await page.getByRole("button", { name: "Send feedback" }).click();
    const dialog = page.getByRole("dialog", { name: "Send feedback" });
    await dialog.getByLabel("Report a problem").check();
    await dialog.getByLabel("What happened, and what did you expect?").fill("The workflow I bookmarked is gone.");
    await dialog.getByText("404 not_found").waitFor();
    await fitsAPhone(page, "feedback-dialog");
    await dialog.getByRole("button", { name: "Send" }).click();
    await dialog.getByText("Thank you: your feedback was sent.").waitFor();
    await dialog.getByRole("button", { name: "Close" }).click();
    await page.getByRole("button", { name: "Send feedback" }).click();
    await dialog.getByLabel("Rate Baton").check();
    await dialog.getByText("9", { exact: true }).click();
    assert.ok(await dialog.getByLabel("9", { exact: true }).isChecked());
    // The score is chosen from the keyboard too, and shows where the focus is.
    await page.keyboard.press("ArrowLeft");
    assert.ok(await dialog.getByLabel("8", { exact: true }).isChecked());
    await fitsAPhone(page, "feedback-rating");
    await page.keyboard.press("ArrowRight");
    assert.ok(await dialog.getByLabel("9", { exact: true }).isChecked());
    await dialog.getByRole("button", { name: "Send" }).click();
    await dialog.getByText("Thank you: your feedback was sent.").waitFor();
    await dialog.getByRole("button", { name: "Close" }).click();

    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByRole("tab", { name: "Usage and feedback" }).click();
    const received = page.getByRole("list", { name: "Feedback received" });
    await received.getByText("The workflow I bookmarked is gone.").waitFor();
    await received.getByText(/Last error: 404 not_found/).waitFor();
    assert.equal(await received.getByText("On /workflows/wf_nowhere").count(), 2, "both sent from that page");
    await received.getByText("Rating: 9 out of 10").waitFor();
    await page.getByText("Net Promoter Score +100, from 1 rating.").waitFor();
    const made = Number(await page.getByText("Workflows made").locator("xpath=following-sibling::dd").textContent());
    assert.ok(made >= 3, `the workflows made this month are counted: ${made}`);
    await fitsAPhone(page, "settings-usage");
  });

  await run("an Owner downloads the organization's data and deletes it; a person downloads theirs and deletes their account", async (page) => {
    await signUpFresh(page, base, "erin@example.com");
    await page.getByRole("link", { name: "Settings" }).click();
    const [everything] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download everything" }).click()]);
    assert.match(everything.suggestedFilename(), /^baton-dana-s-bakery-\d{4}-\d{2}-\d{2}\.zip$/);
    const zipped = readFileSync(await everything.path());
    assert.equal(zipped.subarray(0, 2).toString(), "PK", "a zip");
    for (const file of ["workflows.json", "executions.jsonl", "members.json", "audit_log.json"]) {
      assert.ok(zipped.includes(file), `the zip holds ${file}`);
    }
    await fitsAPhone(page, "settings-organization-data");
    // The name must be typed as it is before the button works.
    await page.getByLabel(`Type "Dana's Bakery" to confirm`).fill("Dana");
    assert.ok(await page.getByRole("button", { name: "Delete the organization" }).isDisabled());
    await page.getByLabel(`Type "Dana's Bakery" to confirm`).fill("Dana's Bakery");
    await page.getByRole("button", { name: "Delete the organization" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();

    await signUpFresh(page, base, "fay@example.com");
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByRole("tab", { name: "My account" }).click();
    const [mine] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download my data" }).click()]);
    const data = JSON.parse(readFileSync(await mine.path(), "utf8"));
    assert.equal(data.user.email, "fay@example.com");
    assert.equal(data.organizations[0].role, "owner");
    await page.getByLabel("Your password, to confirm").fill("not my password");
    await page.getByRole("button", { name: "Delete my account" }).click();
    await page.getByText("Must be your password").waitFor();
    await page.getByLabel("Your password, to confirm").fill("a long enough password");
    await page.getByRole("button", { name: "Delete my account" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.getByLabel("Email").fill("fay@example.com");
    await page.getByLabel("Password").fill("a long enough password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor();
    assert.equal(await page.getByRole("heading", { name: "Home" }).count(), 0, "the account is gone");
  });

  await run("a link without its token says so", async (page) => {
    await page.goto(`${base}/invite`);
    await page.getByRole("heading", { name: "This link is incomplete" }).waitFor();
    await fitsAPhone(page, "incomplete-link");
  });
} finally {
  await browser.close();
  openai.server.close();
  google.server.close();
  notion.server.close();
  hubspot.server.close();
  child.kill("SIGTERM");
  rmSync(data, { recursive: true, force: true });
}
if (failed) process.exit(1);
console.log(`screenshots in ${shots}`);
