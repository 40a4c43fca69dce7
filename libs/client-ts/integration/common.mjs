// Shared by the integration scripts: a client on SWITCHBOARD_URL, a deadline, checks.
import WebSocket from "ws";
import { SwitchboardClient } from "@switchboard/client";

export const url = process.env.SWITCHBOARD_URL ?? "http://127.0.0.1:8000";

/** Fail the script (exit 1) if it is still running after `seconds`. */
export function deadline(seconds) {
  setTimeout(() => fail(`still running after ${seconds} s`), seconds * 1000).unref();
}

export function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

export function check(condition, message) {
  if (!condition) fail(message);
}

/** A client of `user`; with SWITCHBOARD_GLOBAL_WS=1 it gets no WebSocket constructor, so the
 * SDK takes the runtime's global one (`node --experimental-websocket` on Node 20). */
export async function client(user) {
  const token = await SwitchboardClient.devToken(user, url);
  if (process.env.SWITCHBOARD_GLOBAL_WS === "1") {
    check(typeof globalThis.WebSocket === "function", "this runtime has a global WebSocket");
    return new SwitchboardClient(url, { token });
  }
  return new SwitchboardClient(url, { token, WebSocket });
}

/** "t1 t2 … tN " */
export function expectedTokens(n) {
  return Array.from({ length: n }, (_, i) => `t${i + 1} `).join("");
}

/** Reads a run from a stream until its run_end: its text (catch-ups included), events, ids. */
export async function readRun(stream, runId, onToken = () => {}) {
  let text = "";
  const events = [];
  for await (const item of stream.values({ keepOpen: true })) {
    if (item.type === "catch_up" && item.run_id === runId) text = item.text;
    if (item.type === "reload") fail(`unexpected reload: ${item.reason}`);
    if (item.run_id !== runId) continue;
    events.push(item);
    if (item.type === "token") {
      text += item.data.token;
      onToken(events.filter((e) => e.type === "token").length);
    }
    if (item.type === "run_end") return { text, events, end: item };
  }
  fail("the stream ended before run_end");
}

export function duplicateIds(events) {
  const ids = events.map((e) => e.id);
  return ids.length - new Set(ids).size;
}
