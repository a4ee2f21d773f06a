// The path a new user takes from an empty account to a running workflow through a template:
// the checklist's link to the gallery, the email-draft template, its wizard (connect Gmail
// through Google's consent page and OpenAI with a key, in place), its settings, a test run with
// sample data, and switching it on. Shared by the browser tests (which check each screen) and
// `bench/web/template.mjs` (which counts the clicks and times it). Every click a person makes
// goes through `click`, closing the consent tab included.
import assert from "node:assert/strict";

/**
 * Signs up a fresh account on the sign-up page and lands on Home.
 */
export async function signUpFresh(page, base, who) {
  await page.goto(`${base}/sign-up`);
  await page.getByLabel("Your name").fill("Dana Owner");
  await page.getByLabel("Work email").fill(who);
  await page.getByLabel("Password").fill("a long enough password");
  await page.getByLabel("Company name").fill("Dana's Bakery");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Home" }).waitFor();
}

/**
 * From Home, makes the email-draft template run; the clicks made, and what the test run gave.
 */
export async function emailDraftFromTemplate(page) {
  let clicks = 0;
  const click = async (locator) => {
    clicks += 1;
    await locator.click();
  };
  await click(page.getByRole("link", { name: "Add a workflow from a template" }));
  await click(page.getByRole("link", { name: "Draft replies to support email" }));
  await click(page.getByRole("button", { name: "Use this template" }));
  const apps = page.getByRole("region", { name: "1. Connect your apps" });
  const gmail = apps.getByRole("listitem", { name: "Gmail", exact: true });
  await click(gmail.getByRole("button", { name: "Connect Gmail" }));
  const [consent] = await Promise.all([
    page.context().waitForEvent("page"),
    click(gmail.getByRole("button", { name: "Continue to Gmail" })),
  ]);
  await click(consent.getByRole("link", { name: "Allow" }));
  await consent.getByRole("heading", { name: "gmail is connected" }).waitFor();
  clicks += 1; // closing the tab
  await consent.close();
  const openai = apps.getByRole("listitem", { name: "OpenAI", exact: true });
  await click(openai.getByRole("button", { name: "Connect OpenAI" }));
  await openai.getByLabel("OpenAI API key").fill("sk-test-good");
  await click(openai.getByRole("button", { name: "Save connection" }));
  await apps.getByText("Every app it needs is connected.").waitFor({ timeout: 15_000 });
  const settings = page.getByRole("form", { name: "2. Choose its settings" });
  await settings.getByLabel("Your business's name").fill("Dana's Bakery");
  await settings.getByLabel("Tone of voice").selectOption("friendly");
  await click(settings.getByRole("button", { name: "Create the workflow" }));
  const last = page.getByRole("region", { name: "3. Test it and switch it on" });
  await last.getByLabel("Sample data").fill('{"email_id": "m1"}');
  await click(last.getByRole("button", { name: "Run a test" }));
  const result = last.getByRole("region", { name: "Test result" });
  await result.waitFor({ timeout: 60_000 });
  const output = await result.getByLabel("Test output").textContent();
  assert.ok(await result.getByText("It worked.").isVisible(), `the test run failed: ${await result.textContent()}`);
  await click(last.getByRole("button", { name: "Switch it on" }));
  await last.getByText("It is on: it runs by itself from now.").waitFor();
  return { clicks, output };
}
