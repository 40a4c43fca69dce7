// Two devices of one user on one session: both see the whole run and each other's typing;
// a second connection of a device replaces the first (which stops with Replaced, 4409);
// each knows its own echo.
import { Replaced } from "@switchboard/client";
import { check, client, deadline, expectedTokens, readRun } from "./common.mjs";

deadline(60);
const sb = await client("ts-devices");
const session = await sb.createSession({ clientId: "laptop" });
const laptop = sb.events(session.id, { clientId: "laptop" });
const phone = sb.events(session.id, { clientId: "phone" });
await Promise.all([laptop.open(), phone.open()]);

const echoes = { laptop: [], phone: [] };
laptop.on("message", (e) => echoes.laptop.push(e.data.client_id));
phone.on("message", (e) => echoes.phone.push(e.data.client_id));

const { run_id } = await sb.sendMessage(session.id, "/tokens 300", { clientId: "laptop" });
const [a, b] = await Promise.all([readRun(laptop, run_id), readRun(phone, run_id)]);
check(a.text === expectedTokens(300) && b.text === expectedTokens(300), "both see every token");
check(echoes.laptop[0] === "laptop" && echoes.phone[0] === "laptop", "the echo names its device");

const watcher = sb.events(session.id, { clientId: "phone" }); // phone again: replaces the old one
const typing = sb.events(session.id, { clientId: "laptop-2" });
await Promise.all([watcher.start(), typing.open()]);
const typedOnPhone = new Promise((resolve) => watcher.on("typing", (e) => resolve(e.metadata.client_id)));
check(typing.typing(), "typing sent");
check((await typedOnPhone) === "laptop-2", "the other device learns who types");
const replaced = await (async () => {
  try {
    for await (const _ of phone.values({ keepOpen: true }));
  } catch (error) {
    return error;
  }
})();
check(replaced instanceof Replaced && replaced.code === 4409, `the old phone stream: ${replaced}`);
await sb.close();
console.log(JSON.stringify({ ok: true }));
