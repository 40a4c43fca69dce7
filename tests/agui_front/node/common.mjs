// What every script shares: a token and a session over REST, and SwitchboardAgent: AG-UI's own
// HttpAgent, plus connect() (GET: join the thread's run) and the SSE id of the last event it
// applied, to resume a dropped stream with Last-Event-ID (HttpAgent itself ignores SSE ids).
import { HttpAgent, runHttpRequest, transformHttpEventStream } from "@ag-ui/client";

export const BASE = process.env.SWITCHBOARD_URL ?? "http://127.0.0.1:8000";

export async function devToken(user) {
  const answer = await fetch(`${BASE}/ai/dev/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user_id: user }),
  });
  return (await answer.json()).token;
}

export async function createSession(token) {
  const answer = await fetch(`${BASE}/ai/sessions`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ agent_type: "personal" }),
  });
  if (answer.status !== 201) throw new Error(`session: ${answer.status} ${await answer.text()}`);
  return (await answer.json()).id;
}

export class SwitchboardAgent extends HttpAgent {
  constructor({ token, sessionId, clientId }) {
    const ids = [];
    super({
      url: `${BASE}/ai/sessions/${sessionId}/agui`,
      threadId: sessionId,
      headers: { Authorization: `Bearer ${token}`, "X-Client-Id": clientId },
      fetch: idRecordingFetch(ids),
    });
    this.sseIds = ids;
    this.lastEventId = null;
    // each SSE event is one AG-UI event: the id of the last one applied is where to resume
    this.subscribe({ onEvent: () => { this.lastEventId = ids.shift() ?? this.lastEventId; } });
  }

  /** GET: join the session's run in progress (or its next), or resume with Last-Event-ID. */
  connect() {
    const init = { method: "GET", headers: { ...this.headers, Accept: "text/event-stream" },
      signal: this.abortController.signal };
    return transformHttpEventStream(runHttpRequest(() => this.fetch(this.url, init)));
  }

  /** Resume where the last applied event was, on whatever replica answers. */
  resume(subscriber) {
    this.headers = { ...this.headers, "Last-Event-ID": this.lastEventId };
    this.abortController = new AbortController();
    return this.connectAgent({}, subscriber);
  }
}

function idRecordingFetch(ids) {
  return async (url, init) => {
    const response = await fetch(url, init);
    if (!response.ok || !response.body) return response;
    const decoder = new TextDecoder();
    let buffer = "";
    const tap = new TransformStream({
      transform(chunk, controller) {
        buffer += decoder.decode(chunk, { stream: true });
        const parts = buffer.split("\n\n");
        buffer = parts.pop();
        for (const part of parts) {
          const id = part.split("\n").find((line) => line.startsWith("id:"));
          if (part.split("\n").some((line) => line.startsWith("data:"))) ids.push(id?.slice(3).trim());
        }
        controller.enqueue(chunk);
      },
    });
    const { status, statusText, headers } = response;
    return new Response(response.body.pipeThrough(tap), { status, statusText, headers });
  };
}

export function expectedText(count) {
  let text = "";
  for (let i = 1; i <= count; i++) text += `t${i} `;
  return text;
}

export function collector() {
  const seen = { types: [], text: "", snapshots: [] };
  const subscriber = {
    onEvent: ({ event }) => { seen.types.push(event.type); },
    onTextMessageContentEvent: ({ event }) => { seen.text += event.delta; },
    onMessagesSnapshotEvent: ({ event }) => { seen.snapshots.push(structuredClone(event.messages)); },
  };
  return { seen, subscriber };
}

export function assert(condition, message) {
  if (!condition) {
    console.log(`FAIL ${message}`);
    process.exit(1);
  }
}

export function assistantText(agent, runId) {
  return agent.messages.find((m) => m.id === runId)?.content;
}

// HttpAgent's reader teardown rethrows the error of a stream that was cut (`reader.cancel()`
// rejects with it): an unhandled rejection, which a browser logs and Node would die of. Only
// that one is let through here; any other still ends the script.
process.on("unhandledRejection", (reason) => {
  if (reason instanceof TypeError && reason.message === "terminated") return;
  console.log(`FAIL unhandled rejection: ${reason?.stack ?? reason}`);
  process.exit(1);
});

/** Where `got` and `want` first differ, to say so in a failure. */
export function diff(got, want) {
  let i = 0;
  while (i < got.length && got[i] === want[i]) i++;
  return `${got.length} chars, want ${want.length}; first difference at ${i}: ` +
    `${JSON.stringify(got.slice(Math.max(0, i - 20), i + 30))} vs ${JSON.stringify(want.slice(Math.max(0, i - 20), i + 30))}`;
}
