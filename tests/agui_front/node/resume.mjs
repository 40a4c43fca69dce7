// A run through POST .../agui whose stream drops mid-run (the test SIGKILLs the gateway when it
// prints PROGRESS); resumed with Last-Event-ID, the agent ends with the exact text, once.
import { SwitchboardAgent, assert, diff, assistantText, collector, createSession, devToken, expectedText } from "./common.mjs";

const count = Number(process.argv[2] ?? 600);
const progressAt = Number(process.argv[3] ?? 100);
const token = await devToken("agui-resume");
const sessionId = await createSession(token);
const agent = new SwitchboardAgent({ token, sessionId, clientId: "laptop" });
agent.addMessage({ id: "u1", role: "user", content: `/tokens ${count} rate=100` });
const { seen, subscriber } = collector();
let runId = null;
let tokens = 0;
const watch = {
  ...subscriber,
  onRunStartedEvent: ({ event }) => { runId = event.runId; },
  onTextMessageContentEvent: (params) => {
    subscriber.onTextMessageContentEvent(params);
    if (++tokens === progressAt) console.log("PROGRESS");
  },
};
let drops = 0;
try {
  await agent.runAgent({}, watch);
} catch (error) {
  drops += 1;
}
for (let attempt = 0; seen.types.at(-1) !== "RUN_FINISHED"; attempt++) {
  assert(attempt < 20, `no RUN_FINISHED after ${attempt} resumes: ${seen.types.slice(-5)}`);
  try {
    await agent.resume(watch);
  } catch (error) {
    drops += 1;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
assert(drops >= 1, "the stream was dropped");
assert(seen.text === expectedText(count), `text: ${diff(seen.text, expectedText(count))}`);
assert(assistantText(agent, runId) === expectedText(count), "the agent's message holds the text once");
console.log(JSON.stringify({ ok: true, drops, runId, lastEventId: agent.lastEventId }));
