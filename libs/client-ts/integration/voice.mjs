// Voice: an utterance (VOICE_WAV) sent with sendAudio is heard (stt partials, then the final),
// its reply's tts chunks are joined into one WAV (written to TTS_OUT); broken uploads throw.
import { readFileSync, writeFileSync } from "node:fs";
import { ApiError, Busy, joinTts, readWav } from "@switchboard/client";
import { check, client, deadline } from "./common.mjs";

deadline(120);
const sb = await client("ts-voice");
const session = await sb.createSession({ mode: "voice", clientId: "mic" });
const stream = sb.events(session.id, { clientId: "mic" });
await stream.open();

const accepted = await sb.sendAudio(session.id, readFileSync(process.env.VOICE_WAV));
const events = [];
for await (const item of stream.values({ keepOpen: true })) {
  if (item.run_id !== accepted.run_id) continue;
  events.push(item);
  if (item.type === "run_end") break;
}
const stt = events.filter((e) => e.type === "stt").map((e) => e.data);
check(stt.length > 0 && stt.at(-1).final, `stt ends final: ${JSON.stringify(stt)}`);
check(stt.slice(0, -1).every((s) => !s.final), "only the last stt is final");
const tts = events.filter((e) => e.type === "tts");
check(tts.length > 0 && tts.at(-1).data.final, "the reply is spoken, its last chunk final");
check(events.at(-1).data.status === "completed", `run ${events.at(-1).data.status}`);
const joined = joinTts(tts);
check(readWav(joined).rate === 16_000, "one 16 kHz WAV");
writeFileSync(process.env.TTS_OUT, joined);

// broken uploads: nothing stored, a clear error
const notWav = await sb.sendAudio(session.id, new TextEncoder().encode("ID3 not a wav")).catch((e) => e);
check(notWav instanceof ApiError && notWav.status === 415, `not WAV: ${notWav}`);
check(notWav.code === "unsupported_media_type", `not WAV code ${notWav.code}`);
const cut = await sb.sendAudio(session.id, joined.subarray(0, joined.length / 2)).catch((e) => e);
check(cut instanceof ApiError && cut.status === 422 && cut.code === "bad_audio", `cut: ${cut}`);
check(/truncated/.test(cut.detail), `names the problem: ${cut.detail}`);
const text = await sb.createSession({ mode: "text" });
const refused = await sb.sendAudio(text.id, joined).catch((e) => e);
check(refused instanceof Busy && refused.code === "not_voice_session", `text session: ${refused}`);
await sb.close();
console.log(JSON.stringify({ heard: stt.at(-1).text, partials: stt.length - 1, chunks: tts.length }));
