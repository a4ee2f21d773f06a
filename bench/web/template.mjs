// How long and how many clicks it takes a new account to get the email-draft template running
// from the gallery (connect Gmail and OpenAI in place, choose its settings, run a test that saves
// a draft, switch it on), scripted in Chromium against a real `baton serve` with local stand-ins
// for OpenAI and Google. Goals: at most 12 clicks, and 20 s for the script (3 minutes for a
// person). Usage (from web/, where playwright-core is installed):
//   node ../bench/web/template.mjs <path to the baton binary>
import { createRequire } from "node:module";
import { join } from "node:path";
import { serve } from "../../web/e2e/serve.mjs";
import { fakeGoogle, fakeOpenAI } from "../../web/e2e/fakes.mjs";
import { emailDraftFromTemplate, signUpFresh } from "../../web/e2e/template_flow.mjs";

const require = createRequire(join(process.cwd(), "package.json"));
const { chromium } = require("playwright-core");
const binary = process.argv[2];
if (!binary) throw new Error("usage: node ../bench/web/template.mjs <path to the baton binary>");

const openai = await fakeOpenAI();
const google = await fakeGoogle();
const { child: server, base } = await serve(binary, { BATON_OPENAI_BASE_URL: openai.base, ...google.env });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  const rounds = [];
  for (let round = 0; round < 3; round++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await signUpFresh(page, base, `bench${round}@bakery.example`);
    const started = performance.now();
    const { clicks } = await emailDraftFromTemplate(page);
    rounds.push({ clicks, seconds: (performance.now() - started) / 1000 });
    await context.close();
  }
  rounds.sort((a, b) => a.seconds - b.seconds);
  const median = rounds[Math.floor(rounds.length / 2)];
  console.log(`template to a running workflow: ${median.clicks} clicks (goal ≤ 12), ${median.seconds.toFixed(1)} s scripted (median of ${rounds.length}; goal ≤ 20 s)`);
  console.log(`drafts saved by the test runs: ${google.state.drafts.length}`);
} finally {
  await browser.close();
  server.kill("SIGTERM");
  openai.server.close();
  google.server.close();
}
