// The talk button: hold it (pointer, or Space/Enter on the focused button) to record, release
// to send the utterance with `sendAudio`; `send(wav)` is the page's. Its label says what happens.
import { Recorder } from "./recorder.js";

const IDLE = "Hold to talk";

export function holdToTalk(button, { send, onError, onPress }) {
  const recorder = new Recorder((seconds) => {
    button.dataset.recordedS = seconds.toFixed(2);
    button.textContent = `● Listening ${seconds.toFixed(1)} s, release to send`;
  });
  let starting = null;

  async function press() {
    if (recorder.recording || starting) return;
    onPress();
    button.setAttribute("aria-pressed", "true");
    button.dataset.recordedS = "0";
    button.textContent = "● Listening…";
    starting = recorder.start().catch((err) => {
      onError(`microphone: ${err.message}`);
      reset();
    });
    await starting;
    starting = null;
  }

  async function release() {
    if (button.getAttribute("aria-pressed") !== "true") return;
    await starting;
    button.setAttribute("aria-pressed", "false");
    button.textContent = "Sending…";
    button.disabled = true;
    try {
      const wav = await recorder.stop();
      if (wav) await send(wav);
      else onError("nothing was recorded");
    } catch (err) {
      onError(err.message);
    } finally {
      reset();
    }
  }

  function reset() {
    button.disabled = false;
    button.setAttribute("aria-pressed", "false");
    button.textContent = IDLE;
  }

  const isKey = (e) => (e.key === " " || e.key === "Enter") && !e.repeat;
  button.addEventListener("pointerdown", (e) => {
    button.setPointerCapture?.(e.pointerId);
    press();
  });
  button.addEventListener("pointerup", release);
  button.addEventListener("pointercancel", release);
  button.addEventListener("keydown", (e) => isKey(e) && (e.preventDefault(), press()));
  button.addEventListener("keyup", (e) => (e.key === " " || e.key === "Enter") && (e.preventDefault(), release()));
  button.addEventListener("click", (e) => e.preventDefault());
  button.addEventListener("contextmenu", (e) => e.preventDefault()); // a long touch on a phone
  reset();
}
