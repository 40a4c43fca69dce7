// N tokens with ack=client (the default): the whole text, in order, nothing doubled.
// Prints `PROGRESS k` once after token `progressAt` (the test kills a gateway then).
// ACK_DELAY=off: no quiet-time acks, only one every half window (which alone must suffice).
import { check, client, deadline, duplicateIds, expectedTokens, readRun } from "./common.mjs";

const [count = "2000", rate = "0", progressAt = "0"] = process.argv.slice(2);
deadline(120);
const sb = await client("ts-tokens");
const session = await sb.createSession({ clientId: "node-1" });
const options = process.env.ACK_DELAY === "off" ? { ackDelayMs: null } : {};
const stream = sb.events(session.id, { clientId: "node-1", options });
const states = [];
stream.on("connection", (s) => states.push(s));
await stream.open();
check(stream.options.ack === "client", "ack=client is the default");
const { run_id } = await sb.sendMessage(session.id, `/tokens ${count} rate=${rate}`);
const run = await readRun(stream, run_id, (k) => {
  if (k === Number(progressAt)) console.log(`PROGRESS ${k}`);
});
check(run.end.data.status === "completed", `run ended ${run.end.data.status}`);
check(run.text === expectedTokens(Number(count)), "the text is t1 … tN, each once, in order");
check(duplicateIds(run.events) === 0, "no event id reached the loop twice");
const seqs = run.events.map((e) => e.seq);
check(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), "seq only grows");
await sb.close();
console.log(JSON.stringify({ tokens: Number(count), connects: stream.connects, states }));
