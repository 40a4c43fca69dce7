// Hold to talk: records the microphone with MediaRecorder and gives back one WAV file (the server
// takes WAV only; the SDK's encodeWav makes it from the decoded samples).
//
// Not through the Web Audio graph: a MediaStreamAudioSourceNode hands the microphone to the
// render thread through a small FIFO, and when that thread runs late (a busy machine) the FIFO
// drops samples and fills silence in, so words go missing. MediaRecorder takes every sample
// the track delivers and encodes it off the page's threads; the recording is decoded whole.
import { encodeWav } from "./sdk/index.js";

// Unprocessed: the browser's noise suppression and gain control distort a voice enough that the
// recogniser (pocketsphinx) hears other words; hold to talk needs no echo cancelling.
const RAW = { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false };
const TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4"];
const SLICE_MS = 250; // how often the recording so far is handed over (and measured)
const RATE = 48_000; // the decoded samples' rate

export class Recorder {
  constructor(onProgress) {
    this.onProgress = onProgress; // seconds recorded so far (decoded, not wall-clock)
    this.parts = null;
  }

  get recording() {
    return this.parts !== null;
  }

  async start() {
    this.parts = [];
    this.measuring = Promise.resolve();
    try {
      this.mic = await navigator.mediaDevices.getUserMedia({ audio: RAW });
      const mimeType = TYPES.find((t) => MediaRecorder.isTypeSupported(t));
      this.media = new MediaRecorder(this.mic, { ...(mimeType ? { mimeType } : {}), audioBitsPerSecond: 128_000 });
      this.media.ondataavailable = (e) => this.take(e.data);
      this.media.start(SLICE_MS);
    } catch (err) {
      await this.release();
      throw err;
    }
  }

  take(blob) {
    if (!this.parts || !blob.size) return;
    this.parts.push(blob);
    const parts = this.parts;
    this.measuring = this.measuring.then(() => this.measure(parts));
  }

  // Progress is the length of what was recorded, so "recorded s" means samples the microphone
  // delivered, however late the machine runs. A part that does not decode yet is skipped.
  async measure(parts) {
    if (parts !== this.parts || parts.length === 0) return;
    const audio = await decode(parts, this.media?.mimeType).catch(() => null);
    if (audio && parts === this.parts) this.onProgress(audio.length / audio.sampleRate);
  }

  // The recording as a WAV file, or null when nothing was heard; the microphone is released.
  async stop() {
    if (!this.parts) return null;
    const { media, parts } = this;
    if (media.state !== "inactive") {
      const stopped = new Promise((resolve) => media.addEventListener("stop", resolve, { once: true }));
      media.stop(); // the last part comes in a dataavailable before `stop`
      await stopped;
    }
    const type = media.mimeType;
    await this.release();
    if (!parts.length) return null;
    const audio = await decode(parts, type);
    if (!audio.length) return null;
    return encodeWav(audio.getChannelData(0), audio.sampleRate);
  }

  async release() {
    this.parts = null;
    if (this.media && this.media.state !== "inactive") this.media.stop();
    this.mic?.getTracks().forEach((track) => track.stop());
    this.mic = this.media = null;
  }
}

// The parts recorded so far, decoded (a MediaRecorder's parts make one file together).
async function decode(parts, type) {
  const bytes = await new Blob(parts, { type }).arrayBuffer();
  const ctx = new OfflineAudioContext(1, 1, RATE);
  return ctx.decodeAudioData(bytes);
}
