import { describe, expect, it } from "vitest";
import { encodeWav, joinTts, readWav, SwitchboardClient, ttsAudio, writeWav, type FetchLike } from "../src/index.js";

const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const chunk = (n: number, pcm: number[], rate = 16_000) => ({
  audio: base64(writeWav(Uint8Array.from(pcm), rate)),
  format: "wav",
  chunk: n,
  final: false,
});

describe("WAV files", () => {
  it("writes a PCM WAV with its true sizes and reads it back", () => {
    const wav = writeWav(Uint8Array.from([1, 2, 3, 4]), 16_000);
    expect(wav.length).toBe(48);
    expect(readWav(wav)).toEqual({ rate: 16_000, channels: 1, width: 2, data: Uint8Array.from([1, 2, 3, 4]) });
  });

  it("encodes float samples as 16-bit PCM, channels interleaved, clipped", () => {
    const wav = encodeWav([Float32Array.from([0, 1, -2]), Float32Array.from([0.5, -1, 0])], 48_000);
    const audio = readWav(wav);
    expect([audio.rate, audio.channels, audio.width]).toEqual([48_000, 2, 2]);
    const view = new DataView(audio.data.buffer, audio.data.byteOffset, audio.data.byteLength);
    const samples = Array.from({ length: 6 }, (_, i) => view.getInt16(i * 2, true));
    expect(samples).toEqual([0, 16384, 32767, -32768, -32768, 0]);
  });

  it("reads a streaming header to the end of the bytes, refuses a truncated one", () => {
    const wav = writeWav(Uint8Array.from([1, 2, 3, 4, 5, 6]), 22_050);
    const streaming = wav.slice();
    new DataView(streaming.buffer).setUint32(40, 0x7ffff000, true);
    expect(readWav(streaming).data.length).toBe(6);
    expect(() => readWav(wav.subarray(0, 47))).toThrow(/truncated WAV: the data chunk declares 6 bytes, 3/);
    expect(() => readWav(new TextEncoder().encode("ID3 not a wav file"))).toThrow(/not a WAV file/);
  });
});

describe("joinTts", () => {
  it("joins chunks in chunk order, from events, data or plain objects", () => {
    const joined = joinTts([chunk(1, [3, 4]), { type: "tts", data: chunk(0, [1, 2]) } as never, chunk(2, [5, 6])]);
    expect(readWav(joined).data).toEqual(Uint8Array.from([1, 2, 3, 4, 5, 6]));
    expect(ttsAudio(chunk(0, [9, 9]))).toEqual(writeWav(Uint8Array.from([9, 9]), 16_000));
  });

  it("names the chunk that is not a WAV file or not in the first chunk's format", () => {
    expect(() => joinTts([])).toThrow("no tts chunks to join");
    expect(() => joinTts([chunk(0, [1, 2]), { audio: btoa("nope"), chunk: 1 }])).toThrow(/tts chunk 1: not a WAV/);
    expect(() => joinTts([chunk(0, [1, 2]), chunk(1, [1, 2], 22_050)])).toThrow(/tts chunk 1 is not PCM/);
  });
});

describe("sendAudio", () => {
  it("posts the WAV as audio/wav with the device's client id", async () => {
    const seen: { url: string; init: RequestInit }[] = [];
    const fetchImpl = (async (url: string, init: RequestInit) => {
      seen.push({ url, init });
      return new Response(JSON.stringify({ message_id: "m", run_id: "r" }), { status: 202 });
    }) as unknown as FetchLike;
    const client = new SwitchboardClient("http://gw", { token: "t", fetch: fetchImpl });
    const wav = writeWav(Uint8Array.from([1, 2]), 16_000);
    expect(await client.sendAudio("s1", wav, { clientId: "mic" })).toEqual({ message_id: "m", run_id: "r" });
    expect(seen[0]?.url).toBe("http://gw/ai/sessions/s1/audio");
    expect(seen[0]?.init.body).toBe(wav);
    expect(seen[0]?.init.headers).toMatchObject({ "Content-Type": "audio/wav", "X-Client-Id": "mic" });
  });
});
