/// <reference types="node" />
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ACTIONS, actionWords } from "./audit";

describe("actionWords", () => {
  it("says known actions in words and still names an unknown one", () => {
    expect(actionWords("workflow.deleted")).toBe("deleted a workflow");
    expect(actionWords("auth.login_failed")).toBe("failed to sign in");
    expect(actionWords("billing.plan_changed")).toBe("did billing: plan changed");
  });
});

describe("every action the server records", () => {
  it("has words", () => {
    const root = fileURLToPath(new URL("../../../crates/server/src", import.meta.url));
    const files = readdirSync(root, { recursive: true, encoding: "utf8" }).filter((name) => name.endsWith(".rs"));
    const pattern = /"((?:auth|mfa|access|organization|member|invite|api_key|credential|ai|workflow|execution)\.[a-z_]+)"/g;
    const recorded = new Set<string>();
    for (const file of files) {
      // (File names such as "organization.json", in the export, are no actions.)
      for (const match of readFileSync(join(root, file), "utf8").matchAll(pattern)) if (!match[1].endsWith(".json")) recorded.add(match[1]);
    }
    expect(recorded.size).toBeGreaterThan(30);
    const missing = [...recorded].filter((action) => !(action in ACTIONS));
    expect(missing).toEqual([]);
  });
});
