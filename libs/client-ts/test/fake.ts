// A fake gateway speaking the real frames (v2 positions): auth → hello; every published event
// gets a `cursor` and is kept in the session's log; a connect whose auth frame carries a cursor
// found in the log is `recovered` and gets the events after it, one without (or expired) is not
// and gets the live tail; a malformed cursor also gets an `invalid_cursor` error frame. Acks are
// recorded and change nothing. Scripted close codes.
import type { WebSocketConstructor, WebSocketLike } from "../src/socket.js";

export type Frame = Record<string, unknown> & { type: string };

export function event(runId: string | null, seq: number | null, type = "token", data?: unknown) {
  return {
    id: `e-${runId}-${seq}-${type}`,
    type,
    data: data ?? (type === "token" ? { token: `t${seq} ` } : type === "run_end" ? { status: "completed" } : {}),
    session_id: "s1",
    agent_type: "personal",
    timestamp: "2026-11-29T00:00:00Z",
    run_id: runId,
    seq,
    metadata: {},
  };
}

export function runEvents(runId: string, tokens: number) {
  const events = [event(runId, 1, "run_start", { message_id: "m1" })];
  for (let i = 1; i <= tokens; i++) events.push(event(runId, i + 1, "token", { token: `t${i} ` }));
  events.push(event(runId, tokens + 2, "run_end", { status: "completed" }));
  return events;
}

export class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: WebSocketLike["onopen"] = null;
  onmessage: WebSocketLike["onmessage"] = null;
  onclose: WebSocketLike["onclose"] = null;
  onerror: WebSocketLike["onerror"] = null;
  readonly sent: Frame[] = [];
  constructor(
    readonly url: string,
    private readonly gateway: FakeGateway,
  ) {
    setTimeout(() => gateway.connected(this), 0);
  }
  send(data: string): void {
    if (this.readyState !== 1) throw new Error("not open");
    const frame = JSON.parse(data) as Frame;
    this.sent.push(frame);
    this.gateway.received(this, frame);
  }
  close(code = 1000, reason = ""): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code, reason }), 0);
    this.gateway.gone(this);
  }
  // server side
  accept(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  push(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code = 1006, reason = ""): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
    this.gateway.gone(this);
  }
}

type Positioned = ReturnType<typeof event> & { cursor: string };
const CURSOR = /^\d{1,4}\.\d{1,19}\.\d{1,6}\.[0-9A-Za-z]{1,16}$/;

export class FakeGateway {
  /** The session's events as published, with their cursors (minus expired ones). */
  log: Positioned[] = [];
  /** What the current connection is to send, oldest first; the first `sent` of them went. */
  queue: Positioned[] = [];
  sent = 0;
  offset = 0;
  window = 8;
  /** Every hello's `recovered`, in order. */
  recovered: boolean[] = [];
  activeRun: Record<string, unknown> | null = null;
  /** Close codes for the next connects (each used once): refused after auth. */
  closeNext: number[] = [];
  sockets: FakeSocket[] = [];
  current: FakeSocket | null = null;
  tokens: string[] = [];
  heartbeatS = 25;
  /** Answer nothing after the hello (a half-open link). */
  mute = false;
  /** Never accept connections (a server that hangs). */
  hang = false;
  acks: string[] = [];
  private authed = false;
  readonly WebSocket: WebSocketConstructor;

  constructor() {
    const gateway = this;
    this.WebSocket = class extends FakeSocket {
      constructor(url: string) {
        super(url, gateway);
      }
    };
  }

  connected(socket: FakeSocket): void {
    this.sockets.push(socket);
    if (this.hang) return;
    this.current = socket;
    this.authed = false;
    this.sent = 0;
    this.queue = [];
    socket.accept();
  }

  received(socket: FakeSocket, frame: Frame): void {
    if (socket !== this.current) return;
    if (frame.type === "auth") {
      this.tokens.push(String(frame.token));
      const code = this.closeNext.shift();
      if (code !== undefined) return socket.drop(code, "scripted");
      this.authed = true;
      const cursor = typeof frame.cursor === "string" ? frame.cursor : null;
      const at = cursor === null ? -1 : this.log.findIndex((e) => e.cursor === cursor);
      const recovered = at >= 0;
      this.recovered.push(recovered);
      this.queue = recovered ? this.log.slice(at + 1) : [];
      const hello = {
        type: "connected", session_id: "s1", client_id: "c1", resumed: recovered, recovered,
        heartbeat_s: this.heartbeatS, ack_window: this.window,
        active_run: recovered ? null : this.activeRun,
      };
      socket.push(hello);
      if (cursor !== null && !CURSOR.test(cursor)) {
        socket.push({ type: "error", code: "invalid_cursor", message: "cursor malformed" });
      }
      this.pump();
    } else if (frame.type === "ack") {
      this.acks.push(String(frame.id));
    } else if (frame.type === "ping" && !this.mute) {
      socket.push({ type: "pong" });
    }
  }

  gone(socket: FakeSocket): void {
    if (socket === this.current) {
      this.current = null;
      this.authed = false;
    }
  }

  /** Log the events with their cursors; the connected device (if any) gets them live. */
  publish(...events: ReturnType<typeof event>[]): void {
    for (const e of events) {
      this.offset += 1;
      const positioned = { cursor: `0.${this.offset}.0.t${this.offset}`, ...e };
      this.log.push(positioned);
      if (this.current && this.authed) this.queue.push(positioned);
    }
    this.pump();
  }

  /** The events so far pass retention: their cursors resume nothing. */
  expire(): void {
    this.log = [];
  }

  pump(): void {
    const socket = this.current;
    if (!socket || !this.authed) return;
    while (this.sent < this.queue.length) socket.push(this.queue[this.sent++]);
  }

  /** The connection dies without a close frame (a gateway crash). */
  crash(code = 1006): void {
    this.current?.drop(code);
  }
}

export function until(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error("condition not met in time"));
      setTimeout(tick, 2);
    };
    tick();
  });
}
