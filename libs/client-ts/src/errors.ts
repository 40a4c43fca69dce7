/** Errors the SDK throws: REST errors by status, and fatal WebSocket close codes. */

export class SwitchboardError extends Error {
  override name = "SwitchboardError";
}

/** A REST call got no answer from the gateway (refused, reset, bad address, timed out): one
 * line naming the gateway; the `fetch` failure is its `cause`. */
export class GatewayUnreachable extends SwitchboardError {
  override name = "GatewayUnreachable";
  constructor(
    readonly baseUrl: string,
    cause: unknown,
  ) {
    super(`cannot reach the gateway at ${baseUrl}: ${innermost(cause)}`, { cause });
  }
}

/** The deepest `cause`'s message (Node's fetch says "fetch failed", its cause says why). */
function innermost(error: unknown): string {
  let found = error;
  while (found instanceof Error && found.cause instanceof Error) found = found.cause;
  if (!(found instanceof Error)) return String(found);
  return found.name === "TimeoutError" ? "no answer in time" : found.message.split("\n")[0]!;
}

/** A REST call answered with an error (`{"error": {"code", "message"}}`). */
export class ApiError extends SwitchboardError {
  override name = "ApiError";
  /** Seconds to wait, from `Retry-After` (429 only). */
  retryAfter: number | null = null;
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly body: unknown = null,
  ) {
    super(`${status} ${code}: ${detail}`);
  }
}
/** 401: the token is missing, invalid or expired. */
export class Unauthorized extends ApiError {
  override name = "Unauthorized";
}
/** 404: no such session (or another user's). */
export class NotFound extends ApiError {
  override name = "NotFound";
}
/** 409: a run is active in this session (or the call was already decided). */
export class Busy extends ApiError {
  override name = "Busy";
}
/** 429: slow down; `retryAfter` seconds when the server said. */
export class RateLimited extends ApiError {
  override name = "RateLimited";
}

/** The event stream ended for good (a close code that reconnecting cannot fix). */
export class StreamClosed extends SwitchboardError {
  override name = "StreamClosed";
  constructor(
    readonly code: number,
    readonly reason: string = "",
  ) {
    super(`websocket closed with ${code}: ${reason || "no reason"}`);
  }
}
/** 4401 with no way to get a new token, or 4403 (token not allowed here). */
export class AuthFailed extends StreamClosed {
  override name = "AuthFailed";
}
/** 4404: no such session, or another user's. */
export class SessionNotFound extends StreamClosed {
  override name = "SessionNotFound";
}
/** 4410: the session was deleted or expired. */
export class SessionEnded extends StreamClosed {
  override name = "SessionEnded";
}
/** 4409: another connection of this device took over; this one stops. */
export class Replaced extends StreamClosed {
  override name = "Replaced";
}

const BY_STATUS: Record<number, typeof ApiError> = {
  401: Unauthorized,
  404: NotFound,
  409: Busy,
  429: RateLimited,
};
const BY_CLOSE: Record<number, typeof StreamClosed> = {
  4401: AuthFailed,
  4403: AuthFailed,
  4404: SessionNotFound,
  4409: Replaced,
  4410: SessionEnded,
};

export function apiError(status: number, code: string, detail: string, body?: unknown): ApiError {
  const Kind = BY_STATUS[status] ?? ApiError;
  return new Kind(status, code, detail, body);
}

export function closedError(code: number, reason: string): StreamClosed {
  const Kind = BY_CLOSE[code] ?? StreamClosed;
  return new Kind(code, reason);
}
