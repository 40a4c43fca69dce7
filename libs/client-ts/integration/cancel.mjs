// Cancel over the socket and over REST; a message sent while busy is queued with onBusy
// "enqueue"; a tool call that needs approval is decided from the stream.
import { Busy } from "@switchboard/client";
import { check, client, deadline, readRun } from "./common.mjs";

deadline(90);
const sb = await client("ts-cancel");
const session = await sb.createSession({ clientId: "tab" });
const stream = sb.events(session.id, { clientId: "tab" });
await stream.open();

// 1. cancel frame after the first token
const first = await sb.sendMessage(session.id, "/tokens 2000 rate=50");
let cancelled = false;
const run1 = await readRun(stream, first.run_id, () => {
  if (!cancelled) cancelled = stream.cancel();
});
check(run1.end.data.status === "cancelled", `frame cancel: run ended ${run1.end.data.status}`);

// 2. busy: reject, then enqueue; REST cancel of the active run
const second = await sb.sendMessage(session.id, "/sleep 30");
const refused = await sb.sendMessage(session.id, "hello").catch((e) => e);
check(refused instanceof Busy && refused.code === "run_active", "a busy session refuses");
const queued = await sb.sendMessage(session.id, "/tokens 3", { onBusy: "enqueue" });
await sb.cancel(session.id);
const run2 = await readRun(stream, second.run_id);
check(run2.end.data.status === "cancelled", `REST cancel: run ended ${run2.end.data.status}`);
const run3 = await readRun(stream, queued.run_id);
check(run3.text === "t1 t2 t3 " && run3.end.data.status === "completed", "the queued run ran");

// 3. tool approval from the stream
const accepted = new Promise((resolve) =>
  stream.on("frame", (f) => f.type === "tool_decision_accepted" && resolve(f)),
);
const tool = await sb.sendMessage(session.id, "/approve echo text=hi");
const run4 = await (async () => {
  const events = [];
  for await (const item of stream.values({ keepOpen: true })) {
    if (item.run_id !== tool.run_id) continue;
    events.push(item);
    if (item.type === "tool_call" && item.data.requires_approval) {
      check(stream.decideTool(item.data.call_id, true), "decision sent");
    }
    if (item.type === "run_end") return events;
  }
})();
const result = run4.find((e) => e.type === "tool_result");
check(result && result.data.error === null, `approved tool ran: ${JSON.stringify(result?.data)}`);
check((await accepted).status === "approved", "tool_decision_accepted");
await sb.close();
console.log(JSON.stringify({ ok: true }));
