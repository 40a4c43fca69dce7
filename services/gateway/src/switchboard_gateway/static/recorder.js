// Hold to talk: records the microphone with Web Audio and gives back one WAV file (the server
// takes WAV only; the SDK's encodeWav makes it from the samples, at the context's rate).
import { encodeWav } from "./sdk/index.js";

// Unprocessed: the browser's noise suppression and gain control distort a voice enough that the
// recogniser (pocketsphinx) hears other words; hold to talk needs no echo cancelling.
const RAW = { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false };

export class Recorder {
  constructor(onProgress) {
    this.onProgress = onProgress; // seconds recorded so far
    this.parts = null;
  }

  get recording() {
    return this.parts !== null;
  }

  async start() {
    this.parts = [];
    this.frames = 0;
    try {
      this.mic = await navigator.mediaDevices.getUserMedia({ audio: RAW });
      this.ctx = new AudioContext();
      await this.ctx.audioWorklet.addModule("/static/capture-worklet.js");
      this.node = new AudioWorkletNode(this.ctx, "capture");
      this.node.port.onmessage = (e) => this.take(e.data);
      this.ctx.createMediaStreamSource(this.mic).connect(this.node);
      this.node.connect(this.ctx.destination); // pulled by the graph; it outputs silence
    } catch (err) {
      await this.release();
      throw err;
    }
  }

  take(samples) {
    if (!this.parts) return;
    this.parts.push(samples);
    this.frames += samples.length;
    this.onProgress(this.frames / this.ctx.sampleRate);
  }

  // The recording as a WAV file, or null when nothing was heard; the microphone is released.
  async stop() {
    if (!this.parts) return null;
    const done = new Promise((resolve) => {
      this.node.port.onmessage = (e) => resolve(this.take(e.data));
    });
    this.node.port.postMessage("flush");
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 500))]);
    const { parts, frames, ctx } = this;
    await this.release();
    if (!frames) return null;
    const samples = new Float32Array(frames);
    parts.reduce((at, part) => (samples.set(part, at), at + part.length), 0);
    return encodeWav(samples, ctx.sampleRate);
  }

  async release() {
    this.parts = null;
    this.mic?.getTracks().forEach((track) => track.stop());
    await this.ctx?.close().catch(() => {});
    this.mic = this.ctx = this.node = null;
  }
}
