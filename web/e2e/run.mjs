// Browser tests of the web app against a real `baton serve` (started here on a free port with a
// fresh data folder) in Debian's Chromium. Usage: node e2e/run.mjs <path to the baton binary>.
// Screenshots of every page visited are written to web/e2e/screenshots/.
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import { serve } from "./serve.mjs";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.argv[2];
assert.ok(binary, "usage: node e2e/run.mjs <path to the baton binary>");
const shots = join(here, "screenshots");
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

const { child, base, data } = await serve(binary);
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
    await page.getByRole("link", { name: "Add a workflow" }).click();
    await page.getByRole("heading", { name: "New workflow" }).waitFor();
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
    await page.getByLabel("Workflow JSON").fill(text);
    await page.getByRole("button", { name: "Save workflow" }).click();
    const problem = await page.getByRole("alert").textContent();
    const shownLine = Number(/Line (\d+)/.exec(problem ?? "")?.[1]);
    assert.ok(
      shownLine > 0 && Math.abs(shownLine - brokenLine) <= 2,
      `the problem points near line ${brokenLine}: ${problem}`,
    );
    await fitsAPhone(page, "new-workflow-problem");

    await page.getByLabel("Workflow JSON").fill(JSON.stringify(workflow, null, 2));
    await page.getByRole("button", { name: "Save workflow" }).click();
    await page.getByRole("heading", { name: "Order total" }).waitFor();
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
    await page.getByRole("link", { name: "wf_total" }).first().waitFor();
    await fitsAPhone(page, "runs");
    await page.getByLabel("State").selectOption("FAILED");
    await page.getByText("No runs match.").waitFor();
    await page.getByLabel("State").selectOption("COMPLETED");
    await page.getByLabel("Workflow").selectOption("wf_total");
    await page.getByRole("link", { name: "wf_total" }).first().waitFor();
    await page.getByRole("link", { name: "Home", exact: true }).click();
    await page.getByText("Runs today").waitFor();
    await page.getByText("100%").waitFor(); // one run, completed
    await fitsAPhone(page, "home-with-runs");
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
      assert.equal(await joining.getByRole("button", { name: /Turn (on|off)/ }).count(), 0, "no switch for a Viewer");
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
    await connection.getByText(/^It (works|did not work)/).waitFor({ timeout: 20_000 });
    await fitsAPhone(page, "integrations");
    await connection.getByRole("button", { name: "Remove" }).click();
    await connection.waitFor({ state: "detached" });
  });

  await run("set the AI budget, make an API key that works until it is revoked", async (page) => {
    await signIn(page, email, "another long password");
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByRole("heading", { name: "Settings" }).waitFor();
    await page.getByLabel("AI budget per month (US dollars)").fill("25");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText("Saved.").waitFor();
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
    await page.getByRole("link", { name: "Home", exact: true }).click();
    await page.getByText("of $25.00").waitFor();
  });

  await run("a link without its token says so", async (page) => {
    await page.goto(`${base}/invite`);
    await page.getByRole("heading", { name: "This link is incomplete" }).waitFor();
    await fitsAPhone(page, "incomplete-link");
  });
} finally {
  await browser.close();
  child.kill("SIGTERM");
  rmSync(data, { recursive: true, force: true });
}
if (failed) process.exit(1);
console.log(`screenshots in ${shots}`);
