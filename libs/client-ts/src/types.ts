/** The REST shapes and server control frames (docs/protocol.md), and the items a stream yields. */
import type {
  ActiveRun as WireActiveRun,
  EventType,
  ServerFrame,
  SwitchboardEvent,
} from "./generated/protocol.js";

// Every model of docs/protocol.schema.json a client sees or sends (events, frames, ActiveRun,
// Run, ErrorEnvelope, CloseCode, ...); the REST bodies the schema lacks are written below.
export type * from "./generated/protocol.js";

/** The event of one type: `EventOf<"token">` is `TokenEvent`. */
export type EventOf<T extends EventType> = Extract<SwitchboardEvent, { type: T }>;

export type Mode = "text" | "voice";
export type OnBusy = "reject" | "interrupt" | "enqueue";

export interface Session {
  id: string;
  user_id: string;
  agent_type: string;
  mode: Mode;
  status: "active" | "ended";
  created_at: string;
  expires_at: string;
  metadata: Record<string, unknown>;
  ws_url: string;
}

export interface ToolCallState {
  call_id: string;
  tool_name: string;
  parameters?: Record<string, unknown> | null;
  result?: unknown;
  error?: string | null;
  reason?: string | null;
  requires_approval?: boolean;
  approval_expires_at?: string | null;
}

/** A run in progress, up to and including `seq` (`text`: its tokens so far). */
export type ActiveRun = Omit<WireActiveRun, "tool_calls"> & { tool_calls: ToolCallState[] };

export interface HistoryMessage {
  id: string;
  seq: number;
  role: "user" | "assistant" | "tool";
  /** All of it, or its first 32 000 code points when `truncated` (`messageContent` reads it
   * whole). */
  content: string;
  truncated?: boolean;
  run_id: string | null;
  tool?: (ToolCallState & { kind: "call" | "result" }) | null;
  metadata: Record<string, unknown>;
  created_at: string;
  [key: string]: unknown;
}

/** `GET /ai/sessions/{id}`: the session with a page of its history (oldest first). */
export interface SessionDetail extends Session {
  messages: HistoryMessage[];
  /** How the runs of the page's user messages went (`text`: its head when `truncated`). */
  runs?: RunOutcome[];
  active_run: ActiveRun | null;
  /** Pass as `before` for the page preceding `messages`; null when this page starts it. */
  messages_before: number | null;
  queued_runs?: number;
}

/** A run of a history page: its status, the agent of its last event, its text (its first
 * 32 000 code points when `truncated`), notices. */
export interface RunOutcome {
  id: string;
  message_id: string;
  status: string;
  agent_type: string | null;
  text: string;
  truncated?: boolean;
  notices: { type: string; data: Record<string, unknown> }[];
}

export interface SessionPage {
  items: Session[];
  next_cursor: string | null;
}

export interface MessageAccepted {
  message_id: string;
  run_id: string;
}

export interface ToolDecisionAccepted {
  call_id: string;
  approve: boolean;
  status: "approved" | "denied";
}

/** A frame from the server that is not an event (the hello, `message_accepted`,
 * `tool_decision_accepted`, `error` without an `id`, `pong`). */
export type ControlFrame = Exclude<ServerFrame, { type: "connected" }>;

export type ReloadReason = "seq_gap" | "buffer_expired" | "joined_mid_run";

/** Events of this session were lost or never reached this device; `session` is its state as
 * stored now. `seq_gap`: a jump in a run's `seq` (`response`: that run's stored reply, if it
 * has one). `buffer_expired`: a connect could not resume (`recovered: false`). `joined_mid_run`: the first event of
 * `run_id` seen is not its first and no catch-up covered it. */
export interface ReloadNotice {
  type: "reload";
  session_id: string;
  reason: ReloadReason;
  session: SessionDetail;
  run_id: string | null;
  response: string | null;
}

/** The run in progress when this device connected (the hello's `active_run`), up to and
 * including `seq`: show `text` as the answer so far; the stream then yields only that run's
 * events after `seq`. */
export interface RunCatchUp {
  type: "catch_up";
  session_id: string;
  run_id: string;
  seq: number;
  agent_type: string;
  text: string;
  tool_calls: ToolCallState[];
  /** Code points of the run's text before `text`: 0 unless the stream was told not to read a
   * long run's head (`wholeCatchUp: false`), or could not. */
  text_offset: number;
}

/** What a stream yields: events, plus catch-ups and reload notices. */
export type StreamItem = SwitchboardEvent | RunCatchUp | ReloadNotice;

export type StreamState = "idle" | "connecting" | "live" | "reconnecting" | "resumed" | "closed";
