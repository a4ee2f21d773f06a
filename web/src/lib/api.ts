import { ApiError, type ApiErrorBody } from "./errors";
import type { paths } from "./schema";

/** `/api/v1/workflows/{id}` → `/api/v1/workflows/${string}`: a path with its parameters filled. */
type Filled<P extends string> = P extends `${infer Head}{${string}}${infer Tail}` ? `${Head}${string}${Filled<Tail>}` : P;

/**
 * A path of Baton's API as its OpenAPI document (`web/openapi.json`, checked against the served
 * one) lists it, with or without a query: a call to a path the API does not have fails to
 * compile.
 */
export type ApiPath = Filled<Extract<keyof paths, string>> | `${Filled<Extract<keyof paths, string>>}?${string}`;

/** Calls Baton's API with the session cookies; an expired access cookie is refreshed once. */
export async function api<T>(path: ApiPath, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const response = await send(path, init);
  if (response.status === 401 && !path.startsWith("/api/v1/auth/")) {
    const refreshed = await fetch("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" });
    if (refreshed.ok) return read<T>(await send(path, init));
  }
  return read<T>(response);
}

function send(path: ApiPath, init: { method?: string; body?: unknown }) {
  return fetch(path, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    credentials: "same-origin",
    headers: init.body === undefined ? {} : { "content-type": "application/json" },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

let last: string | null = null;

/** The last error Baton's API answered in this tab (for a problem report), if any. */
export function lastError(): string | null {
  return last;
}

async function read<T>(response: Response): Promise<T> {
  const text = await response.text();
  const body = text ? JSON.parse(text) : undefined;
  if (!response.ok) {
    const error = (body as ApiErrorBody | undefined)?.error;
    if (response.status !== 401) {
      last = `${response.status} ${error?.code ?? "error"}: ${error?.message ?? ""} (${new URL(response.url, location.href).pathname})`.slice(0, 500);
    }
    throw new ApiError(response.status, error?.code ?? "internal", error?.message ?? "", error?.details ?? []);
  }
  return body as T;
}

export type Me = {
  user: { id: string; email: string; name: string; email_verified: boolean; two_factor?: boolean; has_password?: boolean; notify?: string };
  organizations: { id: string; name: string; role: string }[];
  active_organization: { id: string; role: string };
};
