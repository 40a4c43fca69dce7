// Runs in the recorder's AudioWorklet: hands the microphone's first channel to the page in
// blocks of 4096 samples (the rest when the page asks with "flush").
class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(4096);
    this.used = 0;
    this.port.onmessage = () => this.flush();
  }

  process(inputs) {
    const samples = inputs[0]?.[0];
    for (let i = 0; samples && i < samples.length; i++) {
      this.block[this.used++] = samples[i];
      if (this.used === this.block.length) this.flush();
    }
    return true;
  }

  flush() {
    this.port.postMessage(this.block.slice(0, this.used));
    this.used = 0;
  }
}

registerProcessor("capture", Capture);
