// A minimal chat on useSession: the history, the run streaming now, a box to send.
import { useState } from "react";
import type { SwitchboardClient } from "@switchboard/client";
import { useSession } from "./useSession.js";

export function Chat(props: { client: SwitchboardClient; sessionId: string; clientId: string }) {
  const { state, messages, live, error, send, cancel, typing } = useSession(
    props.client,
    props.sessionId,
    props.clientId,
  );
  const [draft, setDraft] = useState("");
  return (
    <div>
      <p>connection: {state}{error ? ` (${error.message})` : ""}</p>
      {messages.map((m) => (
        <p key={m.id}>
          <b>{m.role}</b> {m.content} {m.status ? `[${m.status}]` : ""}
        </p>
      ))}
      {live && (
        <p>
          <b>{live.agentType}</b> {live.text}
          {live.toolCalls.map((c) => (
            <code key={c.call_id}> {c.tool_name}…</code>
          ))}
          <button onClick={() => void cancel()}>stop</button>
        </p>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void send(draft);
          setDraft("");
        }}
      >
        <input value={draft} onChange={(e) => { setDraft(e.target.value); typing(); }} />
      </form>
    </div>
  );
}
