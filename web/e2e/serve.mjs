// Starts `baton serve` on a free port with a fresh data folder, for the browser tests and the
// web benchmark. Resolves with the child process, its base URL and the data folder.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function serve(binary, extra = {}) {
  const data = mkdtempSync(join(tmpdir(), "baton-web-"));
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("BATON_")));
  // One user goes through every flow in a minute or two, far faster than a person: the per-user
  // limit (tested on its own in crates/server/tests/protection.rs) is raised so it does not
  // decide the outcome.
  env.BATON_RATE_LIMIT = "1000";
  // Google sign-in set up against an issuer nobody answers at: the sign-in page offers it, and
  // nothing here follows the button.
  env.BATON_GOOGLE_CLIENT_ID = "baton-test";
  env.BATON_GOOGLE_CLIENT_SECRET = "baton-test-secret";
  env.BATON_GOOGLE_ISSUER = "http://127.0.0.1:9";
  // A Gmail OAuth app, so that connecting Gmail opens its consent page (nothing answers there).
  env.BATON_GMAIL_CLIENT_ID = "baton-test.apps.googleusercontent.com";
  env.BATON_GMAIL_CLIENT_SECRET = "baton-test-secret";
  Object.assign(env, extra);
  const child = spawn(binary, ["serve", "--addr", "127.0.0.1:0", "--data-dir", data], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let log = "";
    child.stderr.on("data", (chunk) => {
      log += chunk;
      const found = /listening on (http:\/\/[0-9.:]+)/.exec(log);
      if (found) resolve({ child, base: found[1], data });
    });
    child.on("exit", (code) => reject(new Error(`baton exited (${code}) before listening:\n${log}`)));
    setTimeout(() => reject(new Error(`baton did not listen within 60 s:\n${log}`)), 60_000);
  });
}
