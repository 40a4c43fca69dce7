/** Long texts the REST API cuts, read whole: a history page carries a message's `content` and
 * a run outcome's `text` up to HISTORY_CONTENT_CHARS (`truncated`), a catch-up's `text` as its
 * tail (`text_offset`); the rest is read piece by piece (`{offset, text, total_chars, next_offset}`, docs/protocol.md).
 * Offsets count Unicode code points (not UTF-16 units: `[...text].length`). */
import type { RestApi } from "./rest.js";
import type { SessionDetail, TextPiece } from "./types.js";

const part = encodeURIComponent;

export function messagePath(sessionId: string, messageId: string): string {
  return `/ai/sessions/${part(sessionId)}/messages/${part(messageId)}/content`;
}

export function runPath(sessionId: string, runId: string): string {
  return `/ai/sessions/${part(sessionId)}/runs/${part(runId)}/text`;
}

/** Code points `start` up to `end` (the end of the text when undefined), following
 * `next_offset`. */
export async function readText(
  rest: RestApi,
  path: string,
  start = 0,
  end?: number,
  signal?: AbortSignal,
): Promise<string> {
  const parts: string[] = [];
  let offset: number | null = start;
  while (offset !== null && (end === undefined || offset < end)) {
    const query = { offset, limit: end === undefined ? undefined : end - offset };
    const piece: TextPiece = await rest.json("GET", path, { query, signal });
    parts.push(piece.text);
    if (piece.text === "") break; // nothing more there
    offset = piece.next_offset ?? null;
  }
  return parts.join("");
}

/** The page with every cut text read whole: `truncated` contents and run outcome texts, and
 * the active run's `text` from `text_offset` 0. */
export async function complete(
  rest: RestApi,
  session: SessionDetail,
  signal?: AbortSignal,
): Promise<SessionDetail> {
  for (const message of session.messages ?? []) {
    if (message.truncated !== true) continue;
    const start = [...message.content].length;
    message.content += await readText(rest, messagePath(session.id, message.id), start, undefined, signal);
    message.truncated = false;
  }
  for (const run of session.runs ?? []) {
    if (run.truncated !== true) continue;
    const start = [...run.text].length;
    run.text += await readText(rest, runPath(session.id, run.id), start, undefined, signal);
    run.truncated = false;
  }
  const active = session.active_run;
  if (active && active.text_offset) {
    const head = await readText(rest, runPath(session.id, active.id), 0, active.text_offset, signal);
    active.text = head + active.text;
    active.text_offset = 0;
  }
  return session;
}
