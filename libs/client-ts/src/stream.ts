/** A session's live events for one device: connect, auth, resume, ack, dedupe, catch up,
 * detect holes, refresh the token, reconnect.
 *
 * `EventStream` is an async iterable of typed events (plus `RunCatchUp` and `ReloadNotice`
 * items) and an emitter of the same items (`on("token", e => ...)`). It survives dropped
 * connections: it keeps the `cursor` of the last event it handed over and reconnects (jittered
 * backoff) with it, so the gateway sends the events after it; ids already processed are
 * skipped. A reconnect the gateway cannot resume (`recovered: false`) yields a `reload` item
 * with the session as stored, then the live tail. */
import { AckState } from "./acks.js";
import { Backoff } from "./backoff.js";
import { RecentIds } from "./dedupe.js";
import { ApiError, AuthFailed, closedError, GatewayUnreachable, StreamClosed } from "./errors.js";
import { frame, type AckMode } from "./frames.js";
import { Listeners, type Listener, type StreamEvents } from "./listeners.js";
import { catchUpFrom, storedResponse } from "./notices.js";
import { SeqTracker } from "./seqcheck.js";
import { ABNORMAL, Connection, Dropped, type WebSocketConstructor } from "./socket.js";
import type { TokenSource } from "./tokens.js";
import { FATAL_CLOSES } from "./generated/protocol.js";
import type {
  ControlFrame,
  EventType,
  HelloFrame,
  ReloadNotice,
  ReloadReason,
  RunCatchUp,
  SessionDetail,
  StreamItem,
  StreamState,
  SwitchboardEvent,
} from "./types.js";

export interface StreamOptions {
  /** `client` (default): the SDK acks after processing; `auto`: released on send. */
  ack?: AckMode;
  /** Connect and hello deadline (10 s). */
  helloTimeoutMs?: number;
  /** Also ack processed events when no frame arrives for this long (200 ms), so the gateway
   * releases them early; progress never depends on it (half-window acks). null: off. */
  ackDelayMs?: number | null;
  /** Send `refresh` this long before the token expires, at most half its life (30 s). */
  refreshMarginMs?: number;
  /** Consecutive 4401 closes tolerated (each with a new token) before giving up (3). */
  maxAuthRetries?: number;
  /** How many recent event ids to remember for dedupe (4096). */
  dedupeCapacity?: number;
  backoff?: Backoff;
  /** A catch-up of a long run (the hello's `active_run.text` is its tail, `text_offset` > 0)
   * is yielded with the head read over REST first, so `text` is the whole answer so far
   * (true). false: yielded at once with the tail and `text_offset` (read the head with
   * `client.runText(sessionId, runId, { end: text_offset })`). */
  wholeCatchUp?: boolean;
}

export interface StreamParams {
  url: string;
  sessionId: string;
  clientId: string;
  tokens: TokenSource;
  fetchSession: (sessionId: string) => Promise<SessionDetail>;
  /** The run's text up to code point `end` (the head a long catch-up leaves out). */
  fetchRunText?: (sessionId: string, runId: string, end: number) => Promise<string>;
  WebSocket: WebSocketConstructor;
  options?: StreamOptions;
  recent?: RecentIds;
  signal?: AbortSignal;
  /** Resume after this position (a `cursor` the app saved): its events after it come first. */
  cursor?: string | null;
}

/** Close codes a reconnect cannot fix (4401 is fatal only without a token provider);
 * generated from the protocol's CloseCode. */
export const FATAL = FATAL_CLOSES;
const JOINED = Symbol("joined");
type Inner = StreamItem | typeof JOINED;
const KNOWN_TYPES = new Set<string>([
  "token", "response", "tool_call", "tool_result", "tts", "stt", "session_start", "session_end",
  "agent_switch", "state", "thinking", "typing", "waiting", "error", "warning", "message",
  "run_start", "run_end",
]);

export class EventStream implements AsyncIterable<StreamItem> {
  readonly url: string;
  readonly sessionId: string;
  readonly clientId: string;
  readonly options: Required<Omit<StreamOptions, "backoff">>;
  readonly backoff: Backoff;
  readonly recent: RecentIds;
  readonly seqs = new SeqTracker();
  state: StreamState = "idle";
  /** The last hello's `recovered` (v1 name: `resumed`). */
  resumed: boolean | null = null;
  /** The last hello's `recovered`: the events after the cursor sent followed. */
  recovered: boolean | null = null;
  ackWindow = 256;
  /** Hellos received so far (1 after the first connect). */
  connects = 0;
  /** The latest catch-up this stream yielded (the hello's `active_run`), if any. */
  catchUp: RunCatchUp | null = null;
  /** The last hello as it came. Its `active_run` is exact (history may be a moment behind): a
   * run that history showed in progress and this hello does not ended before it, and its
   * outcome is read over REST once stored. */
  lastHello: HelloFrame | null = null;

  private readonly tokens: TokenSource;
  private readonly fetchSession: StreamParams["fetchSession"];
  private readonly fetchRunText: StreamParams["fetchRunText"];
  private readonly WebSocket: WebSocketConstructor;
  private readonly listeners = new Listeners();
  private conn: Connection | null = null;
  private acks = new AckState();
  private authFailures = 0;
  private inner: AsyncGenerator<Inner> | null = null;
  private opener: Promise<void> | null = null;
  private iterating = false;
  private closing = false;
  private delivered: string | null = null;
  private deliveredCursor: string | null = null;
  private position: string | null;
  private wake: (() => void) | null = null;
  private pump: Promise<void> | null = null;
  private readonly stopping = new AbortController();

  constructor(params: StreamParams) {
    this.url = params.url;
    this.sessionId = params.sessionId;
    this.clientId = params.clientId;
    this.tokens = params.tokens;
    this.fetchSession = params.fetchSession;
    this.fetchRunText = params.fetchRunText;
    this.WebSocket = params.WebSocket;
    const o = params.options ?? {};
    this.options = {
      ack: o.ack ?? "client",
      helloTimeoutMs: o.helloTimeoutMs ?? 10_000,
      ackDelayMs: o.ackDelayMs === undefined ? 200 : o.ackDelayMs,
      refreshMarginMs: o.refreshMarginMs ?? 30_000,
      maxAuthRetries: o.maxAuthRetries ?? 3,
      dedupeCapacity: o.dedupeCapacity ?? 4096,
      wholeCatchUp: o.wholeCatchUp ?? true,
    };
    this.backoff = o.backoff ?? new Backoff();
    this.recent = params.recent ?? new RecentIds(this.options.dedupeCapacity);
    this.position = params.cursor ?? null;
    const signal = params.signal;
    if (signal?.aborted) this.closing = true;
    signal?.addEventListener("abort", () => void this.close(), { once: true });
  }

  // -- public API ----------------------------------------------------------------------

  /** The position of the last event handed over (processed), null before any: persist it to
   * resume a later stream of this device from there (`client.events(id, { cursor })`). */
  get cursor(): string | null {
    return this.position;
  }

  /** Connect and wait for the first hello (retrying transient failures; rejecting with a
   * `StreamClosed` for fatal ones). From then on every event published later reaches this
   * stream (and, by its cursor, the next connection of this device). */
  open(): Promise<void> {
    return this.opening();
  }

  /** `for await (const item of stream)`: events, `catch_up` and `reload` items. Each item
   * counts as processed when the loop asks for the next one; leaving the loop (`break`,
   * `return`, a throw) closes the stream after acking what was processed. */
  [Symbol.asyncIterator](): AsyncIterableIterator<StreamItem> {
    return this.values();
  }

  /** Like iterating the stream; with `keepOpen`, leaving the loop counts the current item as
   * processed but keeps the stream connected, to iterate it again later. One loop at a time. */
  values(options: { keepOpen?: boolean } = {}): AsyncIterableIterator<StreamItem> {
    if (this.iterating || this.pump) throw new Error("this stream is already being consumed");
    this.iterating = true;
    const items = this.items();
    const iterator: AsyncIterableIterator<StreamItem> = {
      next: async () => {
        const result = await items.next();
        if (result.done) this.iterating = false;
        return result;
      },
      return: async () => {
        if (options.keepOpen) {
          this.releaseDelivered();
          this.iterating = false;
          await items.return(undefined);
        } else {
          await this.close();
        }
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Deliver items to the `on()` listeners in the background (instead of iterating); each
   * counts as processed once its listeners returned (awaited when they return a promise).
   * Resolves after the first hello; `closed` listeners hear how it ended. */
  async start(): Promise<void> {
    if (this.iterating || this.pump) throw new Error("this stream is already being consumed");
    this.iterating = true;
    const items = this.items();
    this.pump = (async () => {
      try {
        for (let r = await items.next(); !r.done; r = await items.next());
      } catch {
        // `closed` listeners heard it
      }
    })();
    await this.opening();
  }

  /** Listen to one event type, `"*"` (every item), `"catch_up"`, `"reload"`, `"frame"` (control
   * frames such as `message_accepted`), `"connection"` (the stream's state) or `"closed"`.
   * Returns an unsubscribe. */
  on<K extends keyof StreamEvents>(name: K, listener: Listener<StreamEvents[K]>): () => void {
    return this.listeners.add(name, listener);
  }

  /** Ack what was processed, close the socket, stop iterating. */
  async close(): Promise<void> {
    if (this.closing && this.state === "closed") return;
    this.closing = true;
    this.stopping.abort();
    if (this.delivered !== null) this.markProcessed(this.delivered, null);
    this.iterating = true; // no new loop after close
    const conn = this.conn;
    if (conn) {
      this.flushAck(conn);
      conn.close(1000, "client closed");
    }
    this.wake?.();
    if (this.inner) await this.inner.return(undefined).catch(() => undefined);
    await this.opener?.catch(() => undefined);
    this.setState("closed");
  }

  /** Send a frame (`typing`, `cancel`, `message`, `ping`, ...) if connected; false if not. */
  send(type: string, fields: Record<string, unknown> = {}): boolean {
    return this.conn?.send(frame(type, fields)) ?? false;
  }

  /** Tell the session's other devices this one is typing. */
  typing(): boolean {
    return this.send("typing");
  }

  /** Stop the active run (it ends with `run_end` `cancelled`). */
  cancel(): boolean {
    return this.send("cancel");
  }

  /** Send a message over the socket (answered by a `message_accepted` or `error` frame). */
  message(content: string, metadata: Record<string, unknown> = {}): boolean {
    return this.send("message", { content, metadata });
  }

  /** Approve or deny a `tool_call` that has `requires_approval` (first decision counts). */
  decideTool(callId: string, approve: boolean, reason?: string): boolean {
    return this.send("tool_decision", { call_id: callId, approve, ...(reason ? { reason } : {}) });
  }

  // -- the reconnect loop ---------------------------------------------------------------

  private opening(): Promise<void> {
    if (this.opener === null) {
      this.inner = this.run();
      const inner = this.inner;
      this.opener = inner.next().then((r) => {
        if (r.done && !this.closing) throw new Error("the stream ended before its hello");
        if (!r.done && r.value !== JOINED) throw new Error("the stream yielded before its hello");
      });
      this.opener.catch(() => undefined); // seen by whoever awaits open() or iterates
    }
    return this.opener;
  }

  private async *items(): AsyncGenerator<StreamItem> {
    await this.opening();
    const inner = this.inner;
    if (inner === null) return;
    for (;;) {
      const r = await inner.next();
      if (r.done) return;
      if (r.value === JOINED) continue;
      await this.listeners.dispatch(r.value);
      yield r.value;
    }
  }

  private async *run(): AsyncGenerator<Inner> {
    let failure: Error | null = null;
    try {
      while (!this.closing) {
        this.setState(this.connects === 0 ? "connecting" : "reconnecting");
        let now = false;
        try {
          yield* this.connection();
        } catch (error) {
          if (!(error instanceof Dropped)) throw error;
          if (this.closing) return;
          now = await this.afterDrop(error);
        }
        if (!now && !this.closing) await this.sleep(this.backoff.nextDelay());
      }
    } catch (error) {
      failure = error as Error;
      throw error;
    } finally {
      this.conn = null;
      this.setState("closed");
      this.listeners.emit("closed", failure);
    }
  }

  /** Throw for fatal codes; true to reconnect at once (after 4401, with a new token). */
  private async afterDrop(dropped: Dropped): Promise<boolean> {
    if (FATAL.has(dropped.code)) throw closedError(dropped.code, dropped.reason);
    if (dropped.code !== 4401) return false;
    if (!this.tokens.canRefresh || this.authFailures >= this.options.maxAuthRetries) {
      throw new AuthFailed(4401, dropped.reason || "token rejected");
    }
    this.authFailures += 1;
    await this.tokens.refresh();
    return true;
  }

  private async *connection(): AsyncGenerator<Inner> {
    const { WebSocket, url, stopping } = this;
    const conn = await Connection.open(WebSocket, url, this.options.helloTimeoutMs, stopping.signal);
    this.conn = conn;
    try {
      if (this.closing) return;
      yield* this.serve(conn);
    } finally {
      this.conn = null;
      conn.close(1000, "client closed");
    }
  }

  private async *serve(conn: Connection): AsyncGenerator<Inner> {
    const wasConnected = this.connects > 0;
    const sent = this.position;
    const hello = await this.handshake(conn, sent);
    const stopRefresh = this.refreshLoop(conn);
    const stopHeartbeat = this.heartbeat(conn, (Number(hello.heartbeat_s) || 25) * 1000);
    try {
      yield JOINED;
      if ((wasConnected || sent !== null) && !this.recovered) {
        yield await this.reload("buffer_expired");
      }
      const catchUp = this.takeCatchUp(hello);
      if (catchUp !== null) yield await this.whole(catchUp);
      yield* this.receive(conn);
    } finally {
      stopRefresh();
      stopHeartbeat();
      this.flushAck(conn);
    }
  }

  /** Authenticate (with the cursor to resume from), read the hello, take its settings. */
  private async handshake(conn: Connection, cursor: string | null): Promise<HelloFrame> {
    const token = await this.tokens.get();
    conn.send(frame("auth", cursor === null ? { token } : { token, cursor }));
    const hello = await this.hello(conn);
    this.lastHello = hello;
    const wasConnected = this.connects > 0 || cursor !== null;
    this.connects += 1;
    this.recovered = Boolean(hello.recovered ?? hello.resumed);
    this.resumed = this.recovered;
    this.ackWindow = Number(hello.ack_window) || 256;
    this.acks = new AckState(this.ackWindow);
    this.backoff.reset();
    this.authFailures = 0;
    this.setState(this.resumed && wasConnected ? "resumed" : "live");
    return hello;
  }

  private async hello(conn: Connection): Promise<HelloFrame> {
    const deadline = Date.now() + this.options.helloTimeoutMs;
    for (;;) {
      const raw = await conn.next(Math.max(0, deadline - Date.now()));
      if (raw === null) {
        conn.close(1000, "no hello");
        throw new Dropped(ABNORMAL, "no hello in time");
      }
      const message = asObject(raw);
      if (message.type === "connected") return message as unknown as HelloFrame;
      this.warn("frame before hello ignored", message);
    }
  }

  /** The hello's `active_run`, when it tells this device more than it has seen: its events up
   * to `seq` are skipped from now on. */
  /** The catch-up with its head read (when it has one and the options want it); as it came,
   * with its `text_offset`, when the head cannot be read. */
  private async whole(catchUp: RunCatchUp): Promise<RunCatchUp> {
    const fetch = this.fetchRunText;
    if (!catchUp.text_offset || this.options.wholeCatchUp === false || !fetch) return catchUp;
    try {
      const head = await fetch(this.sessionId, catchUp.run_id, catchUp.text_offset);
      this.catchUp = { ...catchUp, text: head + catchUp.text, text_offset: 0 };
      return this.catchUp;
    } catch (error) {
      if (!(error instanceof ApiError || error instanceof GatewayUnreachable)) throw error;
      return catchUp;
    }
  }

  private takeCatchUp(hello: HelloFrame): RunCatchUp | null {
    const catchUp = catchUpFrom(this.sessionId, hello.active_run);
    if (catchUp === null || !this.seqs.catchUp(catchUp.run_id, catchUp.seq)) return null;
    this.catchUp = catchUp;
    return catchUp;
  }

  // -- receiving -------------------------------------------------------------------------

  private async *receive(conn: Connection): AsyncGenerator<Inner> {
    for (;;) {
      const message = asObject(await this.recv(conn));
      const id = message.id;
      if (typeof id !== "string") {
        this.controlFrame(message);
        await this.listeners.control(message as unknown as ControlFrame);
        continue;
      }
      const cursor = typeof message.cursor === "string" ? message.cursor : null;
      if (this.recent.has(id)) {
        this.processed(conn, id, cursor);
        continue;
      }
      const event = this.parse(message);
      const [covered, notice] = event ? await this.checkSeq(event) : [true, null];
      if (notice !== null) yield notice;
      if (event !== null && !covered) {
        this.delivered = id;
        this.deliveredCursor = cursor;
        yield event;
        if (this.delivered !== id) continue; // close() counted it already
        this.delivered = null;
      }
      this.processed(conn, id, cursor);
    }
  }

  /** `invalid_cursor` (the cursor sent did not parse; the hello said `recovered: false`)
   * drops the cursor, so the next connect sends none. */
  private controlFrame(message: Record<string, unknown>): void {
    if (message.type === "error" && message.code === "invalid_cursor") {
      this.warn("the gateway refused the cursor: dropped", this.position);
      this.position = null;
    }
  }

  /** The next frame; with `ackDelayMs`, acks pending work first when the server goes quiet. */
  private async recv(conn: Connection): Promise<string> {
    const delay = this.options.ackDelayMs;
    if (this.acks.pendingId !== null && delay !== null && this.options.ack === "client") {
      const raw = await conn.next(delay);
      if (raw !== null) return raw;
      this.flushAck(conn);
    }
    return (await conn.next()) as string;
  }

  private parse(message: Record<string, unknown>): SwitchboardEvent | null {
    if (typeof message.type === "string" && KNOWN_TYPES.has(message.type)) {
      return message as unknown as SwitchboardEvent;
    }
    this.warn("skipping an event type this SDK does not know", message.type);
    return null;
  }

  /** Remember the id and the event's position; true when an ack is due. */
  private markProcessed(id: string, cursor: string | null): boolean {
    if (this.delivered === id) {
      this.delivered = null;
      cursor = cursor ?? this.deliveredCursor;
    }
    if (cursor !== null) this.position = cursor;
    this.recent.add(id);
    return this.options.ack === "client" && this.acks.processed(id);
  }

  /** The loop that got the last event left: that event was handled. */
  private releaseDelivered(): void {
    const id = this.delivered;
    if (id !== null && this.markProcessed(id, null) && this.conn) this.flushAck(this.conn);
  }

  private processed(conn: Connection, id: string, cursor: string | null): void {
    if (this.markProcessed(id, cursor)) this.flushAck(conn);
  }

  private flushAck(conn: Connection): void {
    const id = this.acks.take();
    if (id !== null && this.options.ack === "client") conn.send(frame("ack", { id }));
  }

  /** [whether a catch-up already covers the event, a notice to yield before it]. */
  private async checkSeq(event: SwitchboardEvent): Promise<[boolean, ReloadNotice | null]> {
    if (event.run_id == null || event.seq == null) return [false, null];
    const verdict = this.seqs.check(event.run_id, event.seq, Boolean(this.recovered));
    if (verdict === "next" || verdict === "covered") return [verdict === "covered", null];
    this.warn(`run ${event.run_id}: ${verdict} before seq ${event.seq}: reloading`);
    return [false, await this.reload(verdict, event.run_id)];
  }

  private async reload(reason: ReloadReason, runId: string | null = null): Promise<ReloadNotice> {
    const session = await this.fetchSession(this.sessionId);
    const response = runId ? storedResponse(session, runId) : null;
    return { type: "reload", session_id: this.sessionId, reason, session, run_id: runId, response };
  }

  // -- token refresh -----------------------------------------------------------------------

  /** Send `refresh` with a new token before the current one expires; returns a stopper. */
  private refreshLoop(conn: Connection): () => void {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const schedule = (): void => {
      const left = this.tokens.msLeft();
      if (stopped || !this.tokens.canRefresh || left === null || left <= 0) return;
      const wait = Math.max(0, left - Math.min(this.options.refreshMarginMs, left / 2));
      timer = setTimeout(() => void refresh(), Math.min(wait, 2 ** 31 - 1));
    };
    const refresh = async (): Promise<void> => {
      try {
        const token = await this.tokens.refresh();
        if (stopped || !conn.send(frame("refresh", { token }))) return;
        schedule();
      } catch (error) {
        this.warn("token refresh failed; the gateway will close with 4401", error);
      }
    };
    schedule();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  /** After `intervalMs` without a frame, send `ping`; after twice that, the link is dead
   * (a half-open TCP connection shows nothing else): drop it and reconnect. */
  private heartbeat(conn: Connection, intervalMs: number): () => void {
    const timer = setInterval(() => {
      const quiet = Date.now() - conn.lastFrameAt;
      if (quiet >= 2 * intervalMs) conn.close(4000, "no heartbeat");
      else if (quiet >= intervalMs) conn.send(frame("ping"));
    }, intervalMs / 2);
    return () => clearInterval(timer);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }

  private setState(state: StreamState): void {
    if (state === this.state) return;
    this.state = state;
    this.listeners.emit("connection", state);
  }

  private warn(message: string, detail?: unknown): void {
    console.warn(`switchboard ${this.sessionId}/${this.clientId}: ${message}`, detail ?? "");
  }
}

function asObject(raw: string | null): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(raw ?? "");
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

export { StreamClosed };
export type { EventType };
