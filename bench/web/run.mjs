// The web app's figures: the bytes a first visit downloads (every built JS and CSS file,
// gzip- and brotli-compressed) against the 250 KB budget, and the time until the signed-in home
// page is usable in Chromium, against a real `baton serve`.
// Usage (from web/, where playwright-core is installed):
//   node ../bench/web/run.mjs <path to the baton binary>
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { serve } from "../../web/e2e/serve.mjs";

const require = createRequire(join(process.cwd(), "package.json"));
const { chromium } = require("playwright-core");
const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "..", "web", "dist", "assets");
const binary = process.argv[2];
if (!binary) throw new Error("usage: node ../bench/web/run.mjs <path to the baton binary>");

let raw = 0;
let gzip = 0;
let brotli = 0;
for (const name of readdirSync(dist).filter((name) => /\.(js|css)$/.test(name))) {
  const bytes = readFileSync(join(dist, name));
  raw += bytes.length;
  gzip += gzipSync(bytes, { level: 9 }).length;
  brotli += brotliCompressSync(bytes).length;
}
const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`;
console.log(`first load, all JS and CSS: ${kb(raw)} raw, ${kb(gzip)} gzip, ${kb(brotli)} brotli (budget 250 KB compressed)`);

const { child: server, base, data } = await serve(binary);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/sign-in`);
  await page.evaluate(async () => {
    await fetch("/api/v1/auth/signup", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "bench@example.com", password: "correct horse battery staple", name: "Bench", organization_name: "Bench Co" }),
    });
  });
  const times = [];
  for (let round = 0; round < 7; round++) {
    await page.goto("about:blank");
    await page.goto(`${base}/`);
    await page.getByText("Runs today").waitFor();
    times.push(await page.evaluate(() => performance.now()));
  }
  times.sort((a, b) => a - b);
  console.log(
    `home page usable (signed in, its figures shown), 7 loads: median ${times[3].toFixed(0)} ms, worst ${times[6].toFixed(0)} ms (target 1000 ms)`,
  );
} finally {
  await browser.close();
  server.kill("SIGTERM");
  rmSync(data, { recursive: true, force: true });
}
