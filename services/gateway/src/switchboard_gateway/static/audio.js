// Plays a run's `tts` chunks in order (the conversation shows the audio line).
const queue = [];

export function playAudio(data) {
  const bytes = Uint8Array.from(atob(data.audio), (c) => c.charCodeAt(0));
  queue.push(URL.createObjectURL(new Blob([bytes], { type: `audio/${data.format || "wav"}` })));
  if (queue.length === 1) playNext();
}

function playNext() {
  const url = queue[0];
  if (!url) return;
  const audio = new Audio(url);
  const next = () => {
    URL.revokeObjectURL(queue.shift());
    playNext();
  };
  audio.onended = next;
  audio.onerror = next;
  audio.play().catch(next);
}
