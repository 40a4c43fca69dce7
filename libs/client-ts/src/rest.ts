/** The REST half of the protocol over `fetch`, with error mapping and one retry after a 401. */
import { apiError, ApiError, GatewayUnreachable, Unauthorized } from "./errors.js";
import type { TokenSource } from "./tokens.js";

export type FetchLike = typeof fetch;

export interface CallOptions {
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is (give its `Content-Type` in `headers`), instead of `body`. */
  content?: Uint8Array | Blob;
  query?: Record<string, string | number | null | undefined>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** An ApiError for a non-2xx answer, with the server's `error.code` and `error.message`. */
export async function errorFrom(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  const problem = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const [code, detail] =
    problem && typeof problem === "object"
      ? [String(problem.code ?? "error"), String(problem.message ?? "")]
      : ["http_error", text.slice(0, 200) || response.statusText];
  const error = apiError(response.status, code, detail, body);
  const retryAfter = Number.parseFloat(response.headers.get("Retry-After") ?? "");
  error.retryAfter = Number.isFinite(retryAfter) ? retryAfter : null;
  return error;
}

/** Calls `/ai/...` on the gateway with the current token. */
export class RestApi {
  constructor(
    readonly baseUrl: string,
    readonly tokens: TokenSource,
    private readonly fetchImpl: FetchLike,
    private readonly timeoutMs: number,
  ) {}

  async call(method: string, path: string, options: CallOptions = {}): Promise<Response> {
    let response = await this.send(method, path, await this.tokens.get(), options);
    if (response.status === 401 && this.tokens.canRefresh) {
      response = await this.send(method, path, await this.tokens.refresh(), options);
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  async json<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    return (await (await this.call(method, path, options)).json()) as T;
  }

  private send(method: string, path: string, token: string, options: CallOptions) {
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, ...options.headers };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const url = buildUrl(this.baseUrl, path, options.query);
    const init = {
      method,
      headers,
      body: (options.content as BodyInit | undefined) ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
      signal: withTimeout(options.signal, this.timeoutMs),
    };
    return reach(this.baseUrl, () => this.fetchImpl(url, init), options.signal);
  }
}

/** The answer, or `GatewayUnreachable` when none came; the caller's own abort stays as it is. */
async function reach(
  baseUrl: string,
  request: () => Promise<Response>,
  signal?: AbortSignal,
): Promise<Response> {
  try {
    return await request();
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new GatewayUnreachable(baseUrl.replace(/\/+$/, ""), error);
  }
}

export function buildUrl(baseUrl: string, path: string, query?: CallOptions["query"]): string {
  const url = new URL(baseUrl.replace(/\/+$/, "") + path);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== null && value !== undefined) url.searchParams.set(key, String(value));
  }
  return url.toString();
}

/** The caller's signal and the timeout, whichever aborts first. */
function withTimeout(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  if (!signal) return timeout;
  if (typeof AbortSignal.any === "function") return AbortSignal.any([signal, timeout]);
  const both = new AbortController(); // browsers without AbortSignal.any
  const abort = (s: AbortSignal) => () => both.abort(s.reason);
  signal.addEventListener("abort", abort(signal), { once: true });
  timeout.addEventListener("abort", abort(timeout), { once: true });
  if (signal.aborted) both.abort(signal.reason);
  return both.signal;
}

/** `POST /ai/dev/token` (dev mode only). */
export async function fetchDevToken(
  baseUrl: string,
  userId: string,
  fetchImpl: FetchLike = fetch,
): Promise<string> {
  const response = await reach(baseUrl, () =>
    fetchImpl(buildUrl(baseUrl, "/ai/dev/token"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user_id: userId }),
    }),
  );
  if (response.status === 401) throw new Unauthorized(401, "unauthorized", "dev tokens refused");
  if (!response.ok) throw await errorFrom(response);
  return String(((await response.json()) as { token: unknown }).token);
}
