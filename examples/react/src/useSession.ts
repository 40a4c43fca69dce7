// useSession: one session's conversation, live, for a React component.
// History first (GET), then live events; a reload mid-run shows the run so far (catch-up);
// sending while a run is active queues the message (onBusy "enqueue").
import { useCallback, useEffect, useRef, useState } from "react";
import type {
  EventStream,
  HistoryMessage,
  StreamState,
  SwitchboardClient,
  ToolCallState,
} from "@switchboard/client";

export interface ChatMessage {
  id: string;
  role: "user" | "assistant" | "tool";
  content: string;
  runId: string | null;
  status?: "cancelled" | "failed";
}

/** The run being streamed: its text so far and its tool calls. */
export interface LiveRun {
  runId: string;
  agentType: string;
  text: string;
  toolCalls: ToolCallState[];
}

function fromHistory(messages: HistoryMessage[]): ChatMessage[] {
  return messages.map((m) => ({ id: m.id, role: m.role, content: m.content, runId: m.run_id }));
}

function upsert(list: ChatMessage[], message: ChatMessage): ChatMessage[] {
  return list.some((m) => m.id === message.id) ? list : [...list, message];
}

export function useSession(client: SwitchboardClient, sessionId: string, clientId: string) {
  const [state, setState] = useState<StreamState>("idle");
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [live, setLive] = useState<LiveRun | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const stream = useRef<EventStream | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    const s = client.events(sessionId, { clientId, signal: controller.signal });
    stream.current = s;
    const loadHistory = async () => setMessages(fromHistory((await client.getSession(sessionId)).messages));
    s.on("connection", setState);
    s.on("closed", (e) => e && setError(e));
    s.on("reload", (notice) => setMessages(fromHistory(notice.session.messages)));
    s.on("catch_up", (c) =>
      setLive({ runId: c.run_id, agentType: c.agent_type, text: c.text, toolCalls: c.tool_calls }),
    );
    s.on("message", (e) =>
      setMessages((l) => upsert(l, { id: e.data.message_id, role: "user", content: e.data.content, runId: null })),
    );
    s.on("run_start", (e) => setLive({ runId: e.run_id ?? "", agentType: e.agent_type, text: "", toolCalls: [] }));
    s.on("token", (e) => setLive((r) => (r ? { ...r, text: r.text + e.data.token } : r)));
    s.on("tool_call", (e) => setLive((r) => (r ? { ...r, toolCalls: [...r.toolCalls, e.data] } : r)));
    s.on("tool_result", (e) =>
      setLive((r) =>
        r ? { ...r, toolCalls: r.toolCalls.map((c) => (c.call_id === e.data.call_id ? { ...c, ...e.data } : c)) } : r,
      ),
    );
    s.on("response", (e) =>
      setMessages((l) =>
        upsert(l, { id: e.data.message_id, role: "assistant", content: e.data.content, runId: e.run_id }),
      ),
    );
    s.on("run_end", (e) => {
      setLive((r) => {
        if (r && e.data.status !== "completed") {
          const partial = { id: `run-${r.runId}`, role: "assistant" as const, content: r.text, runId: r.runId };
          setMessages((l) => upsert(l, { ...partial, status: e.data.status as "cancelled" | "failed" }));
        }
        return null;
      });
    });
    s.start()
      .then(() => (s.resumed ? undefined : loadHistory()))
      .catch((e: Error) => setError(e));
    return () => controller.abort();
  }, [client, sessionId, clientId]);

  const send = useCallback(
    (content: string) => client.sendMessage(sessionId, content, { onBusy: "enqueue", clientId }),
    [client, sessionId, clientId],
  );
  const cancel = useCallback(() => client.cancel(sessionId), [client, sessionId]);
  const typing = useCallback(() => stream.current?.typing() ?? false, []);
  const decideTool = useCallback(
    (callId: string, approve: boolean) => client.decideTool(sessionId, callId, approve),
    [client, sessionId],
  );
  return { state, messages, live, error, send, cancel, typing, decideTool };
}
