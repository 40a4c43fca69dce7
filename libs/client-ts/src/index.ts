export { SwitchboardClient, DEFAULT_URL } from "./client.js";
export type { ClientOptions, EventsOptions, RequestOptions } from "./client.js";
export { EventStream, FATAL } from "./stream.js";
export { CloseCodes, FATAL_CLOSES } from "./generated/protocol.js";
export type { StreamOptions } from "./stream.js";
export type { Listener, StreamEvents } from "./listeners.js";
export { Backoff } from "./backoff.js";
export { RecentIds } from "./dedupe.js";
export { AckState } from "./acks.js";
export { SeqTracker } from "./seqcheck.js";
export type { Verdict } from "./seqcheck.js";
export { TokenSource, tokenExpiry } from "./tokens.js";
export type { TokenProvider } from "./tokens.js";
export { joinTts, ttsAudio } from "./voice.js";
export type { TtsChunk } from "./voice.js";
export { readWav, writeWav, encodeWav } from "./wav.js";
export type { PcmWav } from "./wav.js";
export { wsUrl } from "./frames.js";
export type { AckMode } from "./frames.js";
export type { WebSocketConstructor, WebSocketLike } from "./socket.js";
export type { FetchLike } from "./rest.js";
export {
  SwitchboardError,
  ApiError,
  Unauthorized,
  GatewayUnreachable,
  NotFound,
  Busy,
  RateLimited,
  StreamClosed,
  AuthFailed,
  SessionNotFound,
  SessionEnded,
  Replaced,
} from "./errors.js";
export type * from "./types.js";
