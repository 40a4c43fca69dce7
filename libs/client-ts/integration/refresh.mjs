// In-band token refresh: the first token (FIRST_TOKEN) expires mid-run; the tokenProvider's
// new one goes out as a `refresh` frame before that, so the gateway never closes with 4401
// and the stream needs no second connection.
import WebSocket from "ws";
import { SwitchboardClient } from "@switchboard/client";
import { check, deadline, expectedTokens, readRun, url } from "./common.mjs";

deadline(60);
let provided = 0;
const sb = new SwitchboardClient(url, {
  token: process.env.FIRST_TOKEN,
  tokenProvider: () => (provided++, SwitchboardClient.devToken("ts-refresh", url)),
  WebSocket,
});
const session = await sb.createSession({ clientId: "tab" });
const stream = sb.events(session.id, { clientId: "tab" });
await stream.open();
const { run_id } = await sb.sendMessage(session.id, "/tokens 60 rate=10");
const run = await readRun(stream, run_id);
check(run.text === expectedTokens(60), "every token");
check(provided >= 1, "the provider was asked for a new token");
check(stream.connects === 1, `one connection throughout (connects: ${stream.connects})`);
await sb.close();
console.log(JSON.stringify({ provided, connects: stream.connects }));
