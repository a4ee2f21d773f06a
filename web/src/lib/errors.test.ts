import { describe as suite, expect, it } from "vitest";
import { ApiError, describe, field } from "./errors";

suite("error wording", () => {
  it("uses the server's sentence, capitalised and ended", () => {
    expect(describe(new ApiError(409, "conflict", "an account with this email exists"))).toBe(
      "An account with this email exists.",
    );
  });
  it("falls back to plain words for a bare code", () => {
    expect(describe(new ApiError(403, "forbidden", ""))).toMatch(/role/);
    expect(describe(new ApiError(503, "unavailable", "unavailable"))).toMatch(/database/);
  });
  it("names each wrong field in words", () => {
    const error = new ApiError(422, "invalid", "the request is invalid", [
      { path: "$.organization_name", message: "must not be empty" },
    ]);
    expect(describe(error)).toBe("The request is invalid.\nOrganization name: must not be empty");
    expect(field("$.steps.0.prompt")).toBe("Prompt");
  });
  it("says when Baton cannot be reached", () => {
    expect(describe(new TypeError("Failed to fetch"))).toMatch(/cannot be reached/);
  });
});
