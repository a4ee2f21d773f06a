// Every API error in words a person understands, never a bare code.

export type ApiErrorBody = {
  error?: { code?: string; message?: string; details?: { path: string; message: string }[] };
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { path: string; message: string }[] = [],
  ) {
    super(message);
  }
}

const WORDS: Record<string, string> = {
  unauthorized: "That did not work: check what you typed and try again.",
  totp_required: "Enter the code from your authenticator app.",
  forbidden: "Your role in this organization does not allow this. Ask an owner or admin.",
  mfa_required: "This organization asks everyone to turn on two-factor sign-in first.",
  not_found: "We could not find that. It may have been removed.",
  conflict: "That clashes with something that already exists.",
  rate_limited: "Too many tries in a short time. Wait a moment and try again.",
  unavailable: "Baton cannot reach its database right now. Try again in a few seconds.",
  too_large: "That is more than Baton accepts in one go.",
  model_failed: "The AI model could not answer. Check its connection under Integrations, or try again.",
  internal: "Something went wrong on Baton's side. Try again; if it keeps happening, tell your admin.",
};

/** What to show a person for an error: the server's own sentence when it has one, else plain words. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) {
    const server = error.message.trim();
    const words = WORDS[error.code];
    if (error.details.length > 0) {
      const fields = error.details.map((detail) => `${field(detail.path)}: ${detail.message}`);
      return [server ? sentence(server) : words, ...fields].filter(Boolean).join("\n");
    }
    if (server && server !== error.code) return sentence(server);
    return words ?? "Something went wrong. Try again.";
  }
  if (error instanceof TypeError) return "Baton cannot be reached. Check your connection and try again.";
  return "Something went wrong. Try again.";
}

/** `$.organization_name` or `organization_name` → `Organization name`. */
export function field(path: string): string {
  const last = path.replace(/^\$\.?/, "").split(".").pop() ?? path;
  const words = last.replace(/_/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : path;
}

export function sentence(text: string): string {
  const capital = text[0].toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}
