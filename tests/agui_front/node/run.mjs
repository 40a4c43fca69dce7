// A message through POST .../agui with HttpAgent: RUN_STARTED ... RUN_FINISHED, all the text.
import { SwitchboardAgent, assert, diff, assistantText, collector, createSession, devToken, expectedText } from "./common.mjs";

const count = Number(process.argv[2] ?? 200);
const token = await devToken("agui-run");
const sessionId = await createSession(token);
const agent = new SwitchboardAgent({ token, sessionId, clientId: "laptop" });
agent.addMessage({ id: "u1", role: "user", content: `/tokens ${count}` });
const { seen, subscriber } = collector();
let runId = null;
await agent.runAgent({}, { ...subscriber, onRunStartedEvent: ({ event }) => { runId = event.runId; } });
assert(seen.types[0] === "RUN_STARTED", `first event ${seen.types[0]}`);
assert(seen.types.at(-1) === "RUN_FINISHED", `last event ${seen.types.at(-1)}`);
assert(seen.text === expectedText(count), `text: ${diff(seen.text, expectedText(count))}`);
assert(assistantText(agent, runId) === expectedText(count), "the agent's message holds the text");
console.log(JSON.stringify({ ok: true, events: seen.types.length, runId }));
