// The web app's figures: the bytes a first visit downloads (the JS and CSS index.html loads,
// gzip- and brotli-compressed) against the 250 KB budget, the time until the signed-in home
// page is usable in Chromium, and a run of 1,000 loop items drawn on its page (time, longest
// task, rows drawn), and the builder opening a 500-step workflow of nested loops and branches
// (time to its first drawn steps, frame times while panning), against a real `baton serve`.
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

const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`;
const sizes = (names) => {
  let raw = 0;
  let gzip = 0;
  let brotli = 0;
  for (const name of names) {
    const bytes = readFileSync(join(dist, name));
    raw += bytes.length;
    gzip += gzipSync(bytes, { level: 9 }).length;
    brotli += brotliCompressSync(bytes).length;
  }
  return `${kb(raw)} raw, ${kb(gzip)} gzip, ${kb(brotli)} brotli`;
};
const index = readFileSync(join(dist, "..", "index.html"), "utf8");
const first = [...index.matchAll(/\/assets\/([^"]+\.(?:js|css))"/g)].map((match) => match[1]);
const later = readdirSync(dist).filter((name) => /\.(js|css)$/.test(name) && !first.includes(name));
console.log(`first load (${first.join(", ")}): ${sizes(first)} (budget 250 KB compressed)`);
console.log(`loaded when needed (${later.join(", ")}): ${sizes(later)}`);

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

  // A run over 1,000 items: its page draws only the rows in view.
  const id = await page.evaluate(async () => {
    const json = { "content-type": "application/json" };
    await fetch("/api/v1/workflows", {
      method: "POST",
      headers: json,
      body: JSON.stringify({
        id: "wf_thousand",
        name: "A thousand rows",
        steps: [{ id: "each", type: "loop", items: "trigger.rows", max_items: 1000, steps: [
          { id: "double", type: "transformation", action: "calculate", inputs: { expression: "item.n * 2" } },
        ] }],
      }),
    });
    const rows = Array.from({ length: 1000 }, (_, n) => ({ n }));
    const run = await fetch("/api/v1/workflows/wf_thousand/runs?wait=120", { method: "POST", headers: json, body: JSON.stringify({ input: { rows } }) });
    return (await run.json()).id;
  });
  // Long tasks (over 50 ms: the page frozen), watched from before the page's own scripts run.
  await page.addInitScript(() => {
    globalThis.longTasks = [];
    new PerformanceObserver((list) => globalThis.longTasks.push(...list.getEntries().map((task) => task.duration))).observe({
      type: "longtask",
    });
  });
  const drawn = [];
  for (let round = 0; round < 3; round++) {
    await page.goto("about:blank");
    await page.goto(`${base}/executions/${id}`);
    await page.getByText("1000 items").waitFor({ timeout: 60_000 });
    await page.getByText("Item 1 of 1000").waitFor();
    drawn.push(
      await page.evaluate(() => ({
        at: performance.now(),
        longest: Math.max(0, ...globalThis.longTasks),
        rows: document.querySelectorAll('[aria-label="Items of each"] button').length,
      })),
    );
  }
  // Scrolling to the end keeps drawing a handful of rows.
  const scrolled = await page.evaluate(async () => {
    const list = document.querySelector('[aria-label="Items of each"]');
    const start = performance.now();
    list.scrollTo(0, list.scrollHeight);
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    return { ms: performance.now() - start, rows: list.querySelectorAll("button").length, last: list.textContent.includes("Item 1000") };
  });
  drawn.sort((a, b) => a.at - b.at);
  const middle = drawn[1];
  console.log(
    `run of 1,000 loop items: page shown in ${middle.at.toFixed(0)} ms (median of 3), longest task ${middle.longest.toFixed(0)} ms (0: none over 50 ms), ` +
      `${middle.rows} item rows drawn; scrolled to the end in ${scrolled.ms.toFixed(0)} ms with ${scrolled.rows} rows drawn` +
      `${scrolled.last ? " (item 1000 in view)" : " (item 1000 NOT in view)"}`,
  );

  // The builder on 500 steps: 25 loops, each holding a conditional with 9 steps a side.
  const steps = Array.from({ length: 25 }, (_, n) => ({
    id: `loop${n}`,
    type: "loop",
    items: "trigger.rows",
    steps: [
      {
        id: `check${n}`,
        type: "conditional",
        condition: "true",
        then: Array.from({ length: 9 }, (_, m) => ({ id: `t${n}_${m}`, type: "transformation", action: "set", inputs: { n: m } })),
        else: Array.from({ length: 9 }, (_, m) => ({ id: `e${n}_${m}`, type: "transformation", action: "set", inputs: { n: m } })),
      },
    ],
  }));
  const total = JSON.stringify(steps).match(/"id"/g).length;
  const made = await page.evaluate(async (document) => {
    const response = await fetch("/api/v1/workflows", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(document) });
    return response.ok ? null : await response.text();
  }, { id: "wf_big", name: "Five hundred steps", steps });
  if (made) throw new Error(`the 500-step workflow was refused: ${made}`);
  await page.setViewportSize({ width: 1280, height: 860 });
  const opens = [];
  for (let round = 0; round < 3; round++) {
    await page.goto("about:blank");
    const start = Date.now();
    await page.goto(`${base}/workflows/wf_big/build`);
    await page
      .getByLabel("Step loop0")
      .waitFor()
      .catch(async (error) => {
        await page.screenshot({ path: join(here, "builder-failed.png") });
        throw error;
      });
    opens.push({ ms: Date.now() - start, longest: await page.evaluate(() => Math.max(0, ...globalThis.longTasks)) });
  }
  opens.sort((a, b) => a.ms - b.ms);
  // Pan across the canvas with the mouse, timing each frame.
  await page.evaluate(() => {
    const times = [];
    let last = performance.now();
    let running = true;
    const tick = (now) => {
      times.push(now - last);
      last = now;
      if (running) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    globalThis.stopFrames = () => {
      running = false;
      return times;
    };
  });
  const pane = page.locator(".react-flow__pane");
  const box = await pane.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  for (let step = 0; step < 60; step++) {
    await page.mouse.move(box.x + box.width / 2 + (step % 20) * 15, box.y + box.height / 2 - step * 12);
  }
  await page.mouse.up();
  const frameTimes = (await page.evaluate(() => globalThis.stopFrames())).slice(1).sort((a, b) => a - b);
  const pick = (q) => frameTimes[Math.min(frameTimes.length - 1, Math.floor(q * frameTimes.length))];
  console.log(
    `builder on ${total} steps: drawn in ${opens[1].ms} ms (median of 3, target 1000 ms), longest task ${opens[1].longest.toFixed(0)} ms; ` +
      `panning: ${frameTimes.length} frames, median ${pick(0.5).toFixed(1)} ms, 95th ${pick(0.95).toFixed(1)} ms (60 fps is 16.7 ms)`,
  );
} finally {
  await browser.close();
  server.kill("SIGTERM");
  rmSync(data, { recursive: true, force: true });
}
