/** WAV files as the API speaks them: read a `tts` chunk (PCM), write what a microphone heard.
 * The reading rules are `libs/protocol`'s `wav.py` (a streaming header reads to the end). */

const PCM = 0x0001;
const EXTENSIBLE = 0xfffe;
const PLACEHOLDER_MIN = 0x7fff0000;

/** Integer PCM audio: `data` holds the interleaved little-endian samples, whole frames only. */
export interface PcmWav {
  rate: number;
  channels: number;
  /** Bytes per sample (one channel). */
  width: number;
  data: Uint8Array;
}

/** The PCM audio of a WAV file; an Error naming the problem for anything else. */
export function readWav(wav: Uint8Array): PcmWav {
  const view = new DataView(wav.buffer, wav.byteOffset, wav.byteLength);
  if (wav.length < 12 || ascii(wav, 0) !== "RIFF" || ascii(wav, 8) !== "WAVE") {
    throw new Error("not a WAV file (no RIFF/WAVE header)");
  }
  let format: Omit<PcmWav, "data"> | null = null;
  for (let pos = 12; pos + 8 <= wav.length; ) {
    const id = ascii(wav, pos);
    const size = view.getUint32(pos + 4, true);
    if (id === "fmt ") format = readFormat(view, pos + 8, size);
    else if (id === "data") {
      if (format === null) throw new Error("corrupt WAV: the data chunk comes before any fmt chunk");
      return { ...format, data: readData(wav.subarray(pos + 8), size, format) };
    }
    pos += 8 + size + (size % 2);
  }
  throw new Error("truncated WAV: no data chunk");
}

function readFormat(view: DataView, at: number, size: number): Omit<PcmWav, "data"> {
  if (size < 16 || at + 16 > view.byteLength) throw new Error("corrupt WAV: the fmt chunk is too short");
  let tag = view.getUint16(at, true);
  if (tag === EXTENSIBLE && size >= 26 && at + 26 <= view.byteLength) tag = view.getUint16(at + 24, true);
  const channels = view.getUint16(at + 2, true);
  const rate = view.getUint32(at + 4, true);
  const bits = view.getUint16(at + 14, true);
  if (tag !== PCM) throw new Error(`WAV encoding 0x${tag.toString(16)} is not integer PCM`);
  if (bits % 8 !== 0 || bits < 8 || bits > 32 || channels < 1 || rate < 1) {
    throw new Error(`corrupt WAV: ${bits}-bit, ${channels} channel(s), ${rate} Hz`);
  }
  return { rate, channels, width: bits / 8 };
}

function readData(rest: Uint8Array, size: number, format: Omit<PcmWav, "data">): Uint8Array {
  const streaming = size === 0 || size >= PLACEHOLDER_MIN;
  if (!streaming && rest.length < size) {
    throw new Error(`truncated WAV: the data chunk declares ${size} bytes, ${rest.length} are present`);
  }
  const data = streaming ? rest : rest.subarray(0, size);
  const frame = format.width * format.channels;
  return data.subarray(0, data.length - (data.length % frame));
}

/** A PCM WAV file of `pcm` (interleaved little-endian samples) with its true sizes. */
export function writeWav(pcm: Uint8Array, rate: number, channels = 1, width = 2): Uint8Array {
  const pad = pcm.length % 2;
  const wav = new Uint8Array(44 + pcm.length + pad);
  const view = new DataView(wav.buffer);
  const text = (at: number, s: string) => [...s].forEach((c, i) => view.setUint8(at + i, c.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + pcm.length + pad, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, PCM, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * channels * width, true);
  view.setUint16(32, channels * width, true);
  view.setUint16(34, width * 8, true);
  text(36, "data");
  view.setUint32(40, pcm.length, true);
  wav.set(pcm, 44);
  return wav;
}

/** A 16-bit PCM WAV file of float samples in [-1, 1] (a Web Audio recording): one
 * `Float32Array` per channel, all of one length. Out-of-range samples are clipped. */
export function encodeWav(channels: Float32Array | Float32Array[], rate: number): Uint8Array {
  const list = Array.isArray(channels) ? channels : [channels];
  const frames = list[0]?.length ?? 0;
  const pcm = new Uint8Array(frames * list.length * 2);
  const view = new DataView(pcm.buffer);
  for (let i = 0; i < frames; i++) {
    list.forEach((samples, c) => {
      const s = Math.max(-1, Math.min(1, samples[i] ?? 0));
      view.setInt16((i * list.length + c) * 2, Math.round(s < 0 ? s * 0x8000 : s * 0x7fff), true);
    });
  }
  return writeWav(pcm, rate, list.length, 2);
}

function ascii(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(...bytes.subarray(at, at + 4));
}
