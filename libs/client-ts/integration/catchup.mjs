// A device that joins mid-run (a new tab) gets the run so far as a `catch_up` item, then the
// rest live: its text equals the whole reply, with nothing doubled.
import { check, client, deadline, expectedTokens, readRun } from "./common.mjs";

deadline(60);
const sb = await client("ts-catchup");
const session = await sb.createSession({ clientId: "first" });
const first = sb.events(session.id, { clientId: "first" });
await first.open();
const { run_id } = await sb.sendMessage(session.id, "/tokens 400 rate=100");
let joined;
const fiftyTokensIn = new Promise((resolve) => (joined = resolve));
const firstRun = readRun(first, run_id, (k) => k === 50 && joined());
await fiftyTokensIn;
const late = sb.events(session.id, { clientId: "late-tab" });
const items = [];
late.on("*", (item) => void items.push(item.type));
const lateRun = await readRun(late, run_id);
check((await firstRun).text === expectedTokens(400), "the first device sees every token");
check(items[0] === "catch_up", `the late device starts with a catch-up: ${items.slice(0, 3)}`);
check(late.catchUp.seq >= 50 && late.catchUp.text.startsWith("t1 t2 "), "the run so far");
check(lateRun.text === expectedTokens(400), "the late device's text is the whole reply");
await sb.close();
console.log(JSON.stringify({ caughtUpAt: late.catchUp.seq }));
