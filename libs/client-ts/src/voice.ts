/** Voice helpers: join a reply's `tts` chunks into one WAV file (`sendAudio` is on the client). */
import type { TtsData, TtsEvent } from "./generated/protocol.js";
import { readWav, writeWav, type PcmWav } from "./wav.js";

/** A `tts` event, its `data`, or any `{ audio, chunk }`. */
export type TtsChunk = TtsEvent | TtsData | { audio: string; chunk: number };

/** One WAV file of a reply's `tts` chunks, in `chunk` order. Every chunk must share one PCM
 * format (the server sends 16 kHz mono 16-bit); an Error names the chunk that does not. */
export function joinTts(chunks: Iterable<TtsChunk>): Uint8Array {
  const datas = [...chunks].map((c) => ("data" in c ? c.data : c)).sort((a, b) => a.chunk - b.chunk);
  if (datas.length === 0) throw new Error("no tts chunks to join");
  const parts = datas.map((d) => {
    try {
      return readWav(ttsAudio(d));
    } catch (error) {
      throw new Error(`tts chunk ${d.chunk}: ${(error as Error).message}`);
    }
  });
  const first = parts[0] as PcmWav;
  parts.forEach((part, i) => {
    if (part.rate !== first.rate || part.channels !== first.channels || part.width !== first.width) {
      throw new Error(`tts chunk ${datas[i]?.chunk} is not PCM in the format of the first chunk`);
    }
  });
  const pcm = new Uint8Array(parts.reduce((n, p) => n + p.data.length, 0));
  parts.reduce((at, p) => (pcm.set(p.data, at), at + p.data.length), 0);
  return writeWav(pcm, first.rate, first.channels, first.width);
}

/** The WAV bytes of one `tts` chunk (its base64 `audio` decoded). */
export function ttsAudio(chunk: TtsChunk): Uint8Array {
  const data = "data" in chunk ? chunk.data : chunk;
  return Uint8Array.from(atob(data.audio), (c) => c.charCodeAt(0));
}
