/** `SwitchboardClient`: the REST calls and live event streams of one user, over one base URL. */
import { RecentIds } from "./dedupe.js";
import { wsUrl } from "./frames.js";
import { fetchDevToken, RestApi, type FetchLike } from "./rest.js";
import { defaultWebSocket, type WebSocketConstructor } from "./socket.js";
import { complete, messagePath, readText, runPath } from "./texts.js";
import { EventStream, type StreamOptions } from "./stream.js";
import { TokenSource, type TokenProvider } from "./tokens.js";
import type {
  HistoryMessage,
  MessageAccepted,
  Mode,
  OnBusy,
  Session,
  SessionDetail,
  SessionPage,
  StreamState,
  ToolDecisionAccepted,
} from "./types.js";

export const DEFAULT_URL = "http://127.0.0.1:8000";

export interface ClientOptions {
  /** The JWT (or give `tokenProvider`, called for the first token too). */
  token?: string;
  /** Returns a fresh token: called before expiry (in-band `refresh`), after a 4401 close and
   * after a REST 401. */
  tokenProvider?: TokenProvider;
  /** A WebSocket constructor where the runtime has no global one (Node 20: `ws`). */
  WebSocket?: WebSocketConstructor;
  fetch?: FetchLike;
  /** REST timeout (15 s). */
  timeoutMs?: number;
  streamOptions?: StreamOptions;
}

/** Every REST call takes a `signal`: aborting it abandons the request. */
export interface RequestOptions {
  signal?: AbortSignal;
}

export interface EventsOptions {
  /** The device or tab: `[A-Za-z0-9_-]{1,64}`; default a random `ts-xxxxxxxx`. */
  clientId?: string;
  options?: StreamOptions;
  onState?: (state: StreamState) => void;
  /** Aborting closes the stream (after acking what was processed). */
  signal?: AbortSignal;
  /** Resume after this position (a `stream.cursor` the app saved): its events after it come
   * first. Default (undefined): where this client's last stream of the device stopped, if
   * any. null: no cursor (an app that just rebuilt its view from history: the catch-up). */
  cursor?: string | null;
}

export class SwitchboardClient {
  readonly baseUrl: string;
  readonly tokens: TokenSource;
  readonly rest: RestApi;
  private readonly options: ClientOptions;
  private streams: EventStream[] = [];
  private readonly recent = new Map<string, RecentIds>();
  /** The newest stream of each (session, device): where its next stream resumes. */
  private readonly latest = new Map<string, EventStream>();

  constructor(baseUrl: string = DEFAULT_URL, options: ClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.options = options;
    this.tokens = new TokenSource(options.token ?? null, options.tokenProvider ?? null);
    const fetchImpl = options.fetch ?? ((...args: Parameters<FetchLike>) => fetch(...args));
    this.rest = new RestApi(this.baseUrl, this.tokens, fetchImpl, options.timeoutMs ?? 15_000);
  }

  /** A dev-mode token for `userId` from `POST /ai/dev/token`. */
  static devToken(userId: string, baseUrl: string = DEFAULT_URL, fetchImpl?: FetchLike) {
    return fetchDevToken(baseUrl.replace(/\/+$/, ""), userId, fetchImpl);
  }

  // -- REST ------------------------------------------------------------------------------

  createSession(
    options: {
      agentType?: string;
      mode?: Mode;
      metadata?: Record<string, unknown>;
      clientId?: string;
    } & RequestOptions = {},
  ): Promise<Session> {
    const body: Record<string, unknown> = {
      agent_type: options.agentType ?? "personal",
      mode: options.mode ?? "text",
      metadata: options.metadata ?? {},
    };
    if (options.clientId !== undefined) body.client_id = options.clientId;
    return this.rest.json("POST", "/ai/sessions", { body, signal: options.signal });
  }

  /** The caller's sessions, newest first: `{items, next_cursor}`. */
  listSessions(
    options: { status?: "active" | "ended"; limit?: number; cursor?: string } & RequestOptions = {},
  ): Promise<SessionPage> {
    const { signal, ...query } = options;
    return this.rest.json("GET", "/ai/sessions", { query, signal });
  }

  /** The session with a page of its history (the newest `messagesLimit` messages with
   * `seq < before`, oldest first), `messages_before` and `active_run`. */
  async getSession(
    sessionId: string,
    options: { messagesLimit?: number; before?: number; fullTexts?: boolean } & RequestOptions = {},
  ): Promise<SessionDetail> {
    const query = { messages_limit: options.messagesLimit, before: options.before };
    const path = `/ai/sessions/${encodeURIComponent(sessionId)}`;
    const session: SessionDetail = await this.rest.json("GET", path, { query, signal: options.signal });
    return options.fullTexts ? complete(this.rest, session, options.signal) : session;
  }

  /** A message's whole content (a `truncated` one's, read piece by piece). */
  messageContent(sessionId: string, messageId: string, options: RequestOptions = {}): Promise<string> {
    return readText(this.rest, messagePath(sessionId, messageId), 0, undefined, options.signal);
  }

  /** A run's text (its tokens so far) up to code point `end` (all when absent): the head before
   * a catch-up's `text_offset`. */
  runText(
    sessionId: string,
    runId: string,
    options: { end?: number } & RequestOptions = {},
  ): Promise<string> {
    return readText(this.rest, runPath(sessionId, runId), 0, options.end, options.signal);
  }

  /** The whole conversation, page by page from the newest back to the first; each page is
   * oldest first. */
  async *history(
    sessionId: string,
    pageSize = 100,
    options: RequestOptions = {},
  ): AsyncGenerator<HistoryMessage[]> {
    let before: number | undefined;
    for (;;) {
      const page = await this.getSession(sessionId, { ...options, messagesLimit: pageSize, before });
      if (page.messages.length > 0) yield page.messages;
      if (page.messages_before === null || page.messages_before === undefined) return;
      before = page.messages_before;
    }
  }

  /** 202 `{message_id, run_id}`; throws `Busy` while a run is active (unless `onBusy` is
   * `"interrupt"` or `"enqueue"`).
   *
   * First opens this client's streams of the session and waits for their hellos, so their
   * devices are connected before the message is published: they get its echo and every event
   * of its run. The message carries `clientId` (default: the device of this client's stream of
   * the session) as `X-Client-Id`, so that device knows its echo. */
  async sendMessage(
    sessionId: string,
    content: string,
    options: {
      onBusy?: OnBusy;
      metadata?: Record<string, unknown>;
      clientId?: string;
    } & RequestOptions = {},
  ): Promise<MessageAccepted> {
    const streams = await this.openStreams(sessionId);
    const clientId = options.clientId ?? streams[0]?.clientId;
    const body: Record<string, unknown> = { content, metadata: options.metadata ?? {} };
    if (options.onBusy !== undefined) body.on_busy = options.onBusy;
    const headers: Record<string, string> = clientId ? { "X-Client-Id": clientId } : {};
    const path = `/ai/sessions/${encodeURIComponent(sessionId)}/message`;
    return this.rest.json("POST", path, { body, headers, signal: options.signal });
  }

  /** POST one WAV utterance to a voice session: 202 `{message_id, run_id}`. Its `stt` events
   * (partial, then `final`) and the run of the transcript follow on the session's streams,
   * which it first opens, as `sendMessage` does. Throws `ApiError`: 415
   * `unsupported_media_type` (not a WAV file), 422 `bad_audio` (corrupt or truncated), `Busy`
   * (409 `not_voice_session`, `run_active`). */
  async sendAudio(
    sessionId: string,
    wav: Uint8Array | Blob,
    options: { clientId?: string } & RequestOptions = {},
  ): Promise<MessageAccepted> {
    const streams = await this.openStreams(sessionId);
    const clientId = options.clientId ?? streams[0]?.clientId;
    const headers: Record<string, string> = { "Content-Type": "audio/wav" };
    if (clientId) headers["X-Client-Id"] = clientId;
    const path = `/ai/sessions/${encodeURIComponent(sessionId)}/audio`;
    return this.rest.json("POST", path, { content: wav, headers, signal: options.signal });
  }

  /** Stop the session's active run (it ends with `run_end` `cancelled`); resolves to its run
   * id. 409 `no_active_run` throws `Busy`. */
  async cancel(sessionId: string, options: RequestOptions = {}): Promise<string> {
    const path = `/ai/sessions/${encodeURIComponent(sessionId)}/cancel`;
    return (await this.rest.json<{ run_id: string }>("POST", path, options)).run_id;
  }

  /** Answer a `tool_call` whose data has `requires_approval`: the first decision from any device
   * counts (a later one throws `Busy` with code `already_decided`). */
  decideTool(
    sessionId: string,
    callId: string,
    approve: boolean,
    reason?: string,
    options: RequestOptions = {},
  ): Promise<ToolDecisionAccepted> {
    const body: Record<string, unknown> = { call_id: callId, approve };
    if (reason !== undefined) body.reason = reason;
    const path = `/ai/sessions/${encodeURIComponent(sessionId)}/tool_decisions`;
    return this.rest.json("POST", path, { body, signal: options.signal });
  }

  async deleteSession(sessionId: string, options: RequestOptions = {}): Promise<void> {
    await this.rest.call("DELETE", `/ai/sessions/${encodeURIComponent(sessionId)}`, options);
  }

  /** The caller's counts (sessions, messages, runs, live connections). */
  stats(options: RequestOptions = {}): Promise<Record<string, unknown>> {
    return this.rest.json("GET", "/ai/stats", options);
  }

  // -- live events -------------------------------------------------------------------------

  /** The session's events for this device, across reconnects (see `EventStream`). A new
   * device starts live (with the catch-up of a run in progress); `cursor` resumes. */
  events(sessionId: string, options: EventsOptions = {}): EventStream {
    const clientId = options.clientId ?? `ts-${randomHex(4)}`;
    const key = `${sessionId}\u0000${clientId}`;
    let recent = this.recent.get(key);
    if (!recent) this.recent.set(key, (recent = new RecentIds()));
    const streamOptions = options.options ?? this.options.streamOptions ?? {};
    const stream = new EventStream({
      url: wsUrl(this.baseUrl, sessionId, clientId, streamOptions.ack ?? "client"),
      sessionId,
      clientId,
      tokens: this.tokens,
      fetchSession: (id) => this.getSession(id, { fullTexts: true }),
      fetchRunText: (id, runId, end) => this.runText(id, runId, { end }),
      WebSocket: this.options.WebSocket ?? defaultWebSocket(),
      options: streamOptions,
      recent,
      signal: options.signal,
      cursor: options.cursor === undefined ? this.cursor(sessionId, clientId) : options.cursor,
    });
    if (options.onState) stream.on("connection", options.onState);
    this.streams = [...this.streams.filter((s) => s.state !== "closed"), stream];
    this.latest.set(key, stream);
    return stream;
  }

  /** The cursor of the last event this device's newest stream handed over (null before any):
   * persist it to resume later with `events(id, { clientId, cursor })`. */
  cursor(sessionId: string, clientId: string): string | null {
    return this.latest.get(`${sessionId}\u0000${clientId}`)?.cursor ?? null;
  }

  /** Close every stream of this client. */
  async close(): Promise<void> {
    await Promise.all(this.streams.map((s) => s.close()));
    this.streams = [];
  }

  /** This client's streams of the session that are (now) connected. */
  private async openStreams(sessionId: string): Promise<EventStream[]> {
    const streams = this.streams.filter((s) => s.sessionId === sessionId && s.state !== "closed");
    await Promise.all(
      streams.map((s) =>
        withTimeout(s.open(), s.options.helloTimeoutMs).catch((error: unknown) =>
          console.warn(`switchboard: stream ${s.clientId} not connected before sending`, error),
        ),
      ),
    );
    return streams;
  }
}

function randomHex(bytes: number): string {
  const buffer = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(buffer);
  return Array.from(buffer, (b) => b.toString(16).padStart(2, "0")).join("");
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no hello within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
