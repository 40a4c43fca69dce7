// Long texts (issue 25, findings 2 and 7): a device joining a long answer mid-run gets the
// whole answer so far (the hello carries its 16 000-character tail; the SDK reads the head),
// or, with `wholeCatchUp: false`, the tail and `text_offset`; a history page cuts an answer
// past 32 000 characters (`truncated`) and `messageContent` / `fullTexts` read it whole.
import { check, client, deadline, expectedTokens, readRun } from "./common.mjs";

deadline(150);
const sb = await client("ts-longtext");
const session = await sb.createSession({ clientId: "first" });
const first = sb.events(session.id, { clientId: "first" });
await first.open();
const { run_id } = await sb.sendMessage(session.id, "/tokens 6000 rate=200");
let joined;
const farIn = new Promise((resolve) => (joined = resolve));
const firstRun = readRun(first, run_id, (k) => k === 3200 && joined()); // past 16 000 chars
await farIn;

const tail = sb.events(session.id, { clientId: "tail", options: { wholeCatchUp: false } });
for await (const item of tail.values()) {
  check(item.type === "catch_up", `a catch-up first: ${item.type}`);
  check(item.text_offset > 0 && [...item.text].length <= 16000, "the tail and its offset");
  const head = await sb.runText(session.id, run_id, { end: item.text_offset });
  check((head + item.text).startsWith("t1 t2 t3 "), "the head and the tail make the text");
  check(expectedTokens(6000).startsWith(head + item.text), "nothing missing, nothing doubled");
  break;
}
await tail.close();

const whole = sb.events(session.id, { clientId: "whole" });
const wholeRun = await readRun(whole, run_id);
check(whole.catchUp.text_offset === 0 && whole.catchUp.text.length > 16000, "the whole so far");
check(wholeRun.text === expectedTokens(6000), "the joined device's text is the whole reply");
check((await firstRun).text === expectedTokens(6000), "the first device sees every token");

let page = await sb.getSession(session.id);
for (let tries = 0; !page.messages.some((m) => m.role === "assistant") && tries < 100; tries++) {
  await new Promise((resolve) => setTimeout(resolve, 100)); // stored a moment after run_end
  page = await sb.getSession(session.id);
}
const answer = page.messages.find((m) => m.role === "assistant");
check(answer.truncated === true && answer.content.length === 32000, "the page cuts the answer");
check((await sb.messageContent(session.id, answer.id)) === expectedTokens(6000), "read whole");
const full = await sb.getSession(session.id, { fullTexts: true });
const fullAnswer = full.messages.find((m) => m.role === "assistant");
check(!fullAnswer.truncated && fullAnswer.content === expectedTokens(6000), "fullTexts");
await sb.close();
console.log(JSON.stringify({ caughtUpAt: whole.catchUp.seq, headChars: whole.catchUp.text.length }));
