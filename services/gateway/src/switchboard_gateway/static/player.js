// Plays `tts` chunks through Web Audio, one after another in arrival order (a run's chunks come
// in `chunk` order); `stop()` silences what plays and drops what is queued. Its state is shown
// on `view` (data-state idle/playing/stopped, data-played, data-queued) for people and tests.
import { ttsAudio } from "./sdk/index.js";

export class Player {
  constructor(view, onChange) {
    this.view = view;
    this.onChange = onChange;
    this.ctx = null;
    this.sources = new Set();
    this.decoding = Promise.resolve();
    this.generation = 0; // bumped by stop(): chunks decoded for an older one are dropped
    this.silenced = new Set(); // runs stopped: their later chunks are not played
    Object.assign(this, { queued: 0, played: 0, at: 0, state: "idle" });
    this.render();
  }

  get busy() {
    return this.queued > 0;
  }

  // Call from a click or key press: browsers start audio only after a gesture.
  unlock() {
    this.context().resume().catch(() => {});
  }

  context() {
    return (this.ctx ??= new AudioContext());
  }

  enqueue(runId, data) {
    if (this.silenced.has(runId)) return;
    const generation = this.generation;
    const bytes = ttsAudio(data);
    this.queued++;
    this.state = "playing";
    this.show();
    this.decoding = this.decoding
      .then(() => this.context().decodeAudioData(bytes.buffer))
      .then((buffer) => (generation === this.generation ? this.schedule(buffer) : null))
      .catch((err) => {
        console.warn("tts chunk not played", err);
        if (generation === this.generation) this.finished();
      });
  }

  schedule(buffer) {
    const ctx = this.context();
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    this.at = Math.max(this.at, ctx.currentTime);
    source.start(this.at);
    this.at += buffer.duration;
    this.sources.add(source);
    source.onended = () => {
      this.sources.delete(source);
      this.played++;
      this.finished();
    };
  }

  finished() {
    this.queued = Math.max(0, this.queued - 1);
    if (!this.queued) this.state = "idle";
    this.show();
  }

  // Silence now; chunks still to come for `runIds` are not played.
  stop(runIds = []) {
    runIds.forEach((id) => id && this.silenced.add(id));
    this.generation++;
    for (const source of this.sources) {
      source.onended = null;
      source.stop();
    }
    this.sources.clear();
    const was = this.queued;
    Object.assign(this, { queued: 0, at: 0, state: was ? "stopped" : this.state });
    this.show();
  }

  show() {
    this.render();
    this.onChange?.();
  }

  render() {
    Object.assign(this.view.dataset, { state: this.state, played: this.played, queued: this.queued });
    this.view.textContent = this.state === "playing" ? `♪ speaking (${this.played} played, ${this.queued} to go)`
      : this.state === "stopped" ? "♪ stopped" : "";
    this.view.hidden = !this.view.textContent;
  }
}
