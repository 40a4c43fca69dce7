/** One WebSocket connection as a queue of text frames: `next()` resolves with the next frame
 * or rejects with `Dropped` once the socket is closed. Works with the browser's `WebSocket`,
 * Node's global one, and the `ws` package (anything with these members). */

/** The part of the WebSocket API the SDK uses. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** No close frame came: the network dropped, or the connect failed. */
export const ABNORMAL = 1006;
const OPEN = 1;

/** The connection ended; `code` says how. */
export class Dropped extends Error {
  override name = "Dropped";
  constructor(
    readonly code: number,
    readonly reason = "",
  ) {
    super(`connection closed: ${code} ${reason}`);
  }
}

/** The global `WebSocket`, or an error that says how to pass one. */
export function defaultWebSocket(): WebSocketConstructor {
  const ctor = (globalThis as { WebSocket?: unknown }).WebSocket;
  if (typeof ctor !== "function") {
    throw new TypeError(
      "this runtime has no global WebSocket (Node 20 has none by default): pass " +
        "{ WebSocket } to SwitchboardClient, e.g. `import WebSocket from \"ws\"`",
    );
  }
  return ctor as WebSocketConstructor;
}

export class Connection {
  private readonly inbox: string[] = [];
  private waiter: { resolve: (frame: string | null) => void; reject: (e: Dropped) => void } | null =
    null;
  private waitTimer: ReturnType<typeof setTimeout> | undefined;
  private ended: Dropped | null = null;
  private closedByUs = false;
  /** When the last frame came (for the heartbeat). */
  lastFrameAt = Date.now();

  private constructor(private readonly ws: WebSocketLike) {
    ws.onmessage = (event) => {
      this.lastFrameAt = Date.now();
      if (typeof event.data !== "string") return; // the server sends text frames only
      if (this.waiter) this.settle((w) => w.resolve(event.data as string));
      else this.inbox.push(event.data);
    };
    ws.onclose = (event) => this.end(new Dropped(event.code || ABNORMAL, event.reason ?? ""));
    ws.onerror = () => undefined; // a close event follows
  }

  /** Open a socket; rejects with `Dropped` when it cannot connect within `timeoutMs` or
   * `signal` aborts first. */
  static open(
    Ctor: WebSocketConstructor,
    url: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Connection> {
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = new Ctor(url);
      } catch (error) {
        reject(new Dropped(ABNORMAL, String(error)));
        return;
      }
      const abort = (): void => {
        clearTimeout(timer);
        safeClose(ws, 1000, "client closed");
        reject(new Dropped(1000, "client closed"));
      };
      signal?.addEventListener("abort", abort, { once: true });
      const timer = setTimeout(() => {
        safeClose(ws, 1000, "connect timeout");
        reject(new Dropped(ABNORMAL, "connect timeout"));
      }, timeoutMs);
      ws.onerror = () => undefined;
      ws.onclose = (event) => {
        clearTimeout(timer);
        reject(new Dropped(event.code || ABNORMAL, event.reason || "could not connect"));
      };
      ws.onopen = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", abort);
        if (signal?.aborted) return abort();
        resolve(new Connection(ws));
      };
    });
  }

  get isOpen(): boolean {
    return this.ended === null && this.ws.readyState === OPEN;
  }

  /** The next text frame; null when `timeoutMs` passes first. */
  next(timeoutMs?: number): Promise<string | null> {
    if (this.closedByUs && this.ended) return Promise.reject(this.ended);
    const frame = this.inbox.shift();
    if (frame !== undefined) return Promise.resolve(frame);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      if (timeoutMs !== undefined) {
        this.waitTimer = setTimeout(() => this.settle((w) => w.resolve(null)), timeoutMs);
      }
    });
  }

  /** Send a text frame; false when the socket is not open. */
  send(text: string): boolean {
    if (!this.isOpen) return false;
    try {
      this.ws.send(text);
      return true;
    } catch {
      return false;
    }
  }

  /** Close from this side: pending and later `next()` calls reject at once. */
  close(code = 1000, reason = "client closed"): void {
    this.closedByUs = true;
    this.end(new Dropped(code, reason));
    safeClose(this.ws, code, reason);
  }

  private end(dropped: Dropped): void {
    if (this.ended) return;
    this.ended = dropped;
    if (this.waiter) this.settle((w) => w.reject(dropped));
  }

  private settle(action: (w: NonNullable<Connection["waiter"]>) => void): void {
    const waiter = this.waiter;
    this.waiter = null;
    clearTimeout(this.waitTimer);
    if (waiter) action(waiter);
  }
}

function safeClose(ws: WebSocketLike, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // already closing, or never opened
  }
}
