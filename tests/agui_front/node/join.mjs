// A second HttpAgent (another device) joins a run in progress with GET .../agui: a
// MESSAGES_SNAPSHOT with the answer so far, then the rest; both end with the whole text.
import { SwitchboardAgent, assert, assistantText, collector, createSession, devToken, expectedText } from "./common.mjs";

const count = Number(process.argv[2] ?? 500);
const joinAt = Number(process.argv[3] ?? 100);
const token = await devToken("agui-join");
const sessionId = await createSession(token);
const laptop = new SwitchboardAgent({ token, sessionId, clientId: "laptop" });
laptop.addMessage({ id: "u1", role: "user", content: `/tokens ${count} rate=100` });
const phone = new SwitchboardAgent({ token, sessionId, clientId: "phone" });
const first = collector();
const second = collector();
let runId = null;
let joined = null;
let tokens = 0;
const running = laptop.runAgent({}, {
  ...first.subscriber,
  onRunStartedEvent: ({ event }) => { runId = event.runId; },
  onTextMessageContentEvent: (params) => {
    first.subscriber.onTextMessageContentEvent(params);
    if (++tokens === joinAt) joined = phone.connectAgent({}, second.subscriber);
  },
});
await running;
assert(joined !== null, "the phone joined");
await joined;
const whole = expectedText(count);
assert(first.seen.text === whole, "the laptop got the whole text");
assert(second.seen.types[0] === "RUN_STARTED", `phone's first event ${second.seen.types[0]}`);
assert(second.seen.types[1] === "MESSAGES_SNAPSHOT", `phone's second event ${second.seen.types[1]}`);
assert(second.seen.types.at(-1) === "RUN_FINISHED", `phone's last event ${second.seen.types.at(-1)}`);
const snapshot = second.seen.snapshots[0];
const soFar = snapshot.find((m) => m.id === runId)?.content ?? "";
assert(snapshot.some((m) => m.role === "user" && m.content === `/tokens ${count} rate=100`), "the snapshot has the user's message");
assert(soFar.length > 0 && whole.startsWith(soFar), `the answer so far: ${soFar.slice(0, 40)}`);
assert(soFar + second.seen.text === whole, `the snapshot (${soFar.length}: ...${soFar.slice(-20)}), then the rest (${second.seen.text.length}: ${second.seen.text.slice(0, 20)}...), is the whole text (${whole.length})`);
assert(assistantText(phone, runId) === whole, "the phone's message holds the whole text");
console.log(JSON.stringify({ ok: true, soFar: soFar.length, rest: second.seen.text.length }));
