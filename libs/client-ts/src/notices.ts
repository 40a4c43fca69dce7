/** Synthetic items the SDK yields besides events: a run's state so far, or events it lost. */
import type { RunCatchUp, SessionDetail, ToolCallState } from "./types.js";

/** The hello's `active_run` as a RunCatchUp (null when absent or malformed). */
export function catchUpFrom(sessionId: string, activeRun: unknown): RunCatchUp | null {
  if (activeRun === null || typeof activeRun !== "object") return null;
  const run = activeRun as Record<string, unknown>;
  const { run_id: runId, seq } = run;
  if (typeof runId !== "string" || typeof seq !== "number" || !Number.isInteger(seq)) return null;
  const calls = Array.isArray(run.tool_calls) ? run.tool_calls : [];
  return {
    type: "catch_up",
    session_id: sessionId,
    run_id: runId,
    seq,
    agent_type: String(run.agent_type ?? ""),
    text: String(run.text ?? ""),
    tool_calls: calls.filter((c): c is ToolCallState => c !== null && typeof c === "object"),
    text_offset: typeof run.text_offset === "number" && run.text_offset > 0 ? run.text_offset : 0,
  };
}

/** The assistant message of `runId` in the session's history, if it is there. */
export function storedResponse(session: SessionDetail, runId: string): string | null {
  const messages = Array.isArray(session.messages) ? session.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message && message.run_id === runId && message.role === "assistant") {
      return typeof message.content === "string" ? message.content : null;
    }
  }
  return null;
}
