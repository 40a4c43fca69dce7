"""Text to speech: one piece of a reply (a sentence or so) as a WAV file, 16 kHz mono 16-bit.

`TTS_BACKEND=espeak-ng` (default) runs the `espeak-ng` program (Debian package `espeak-ng`),
text on its stdin, WAV on its stdout; `TTS_BACKEND=openai` asks `audio.speech` of any
OpenAI-compatible server (official SDK, `response_format="wav"`). Either answer is normalized
(`pcm.normalized_wav`: true sizes, 16 kHz mono). At most `TTS_PROCESSES` syntheses run at once
per worker; a cancelled one kills its process.
"""

import asyncio
from typing import Any, Protocol

from switchboard_protocol.wav import BadWav, NotWav

from .pcm import normalized_wav

ESPEAK = "espeak-ng"
INSTALL_HINT = "install it: apt-get install -y espeak-ng"


class TtsError(RuntimeError):
    """Speech could not be synthesised (the run ends with `error` `tts_error`)."""


class TextToSpeech(Protocol):
    async def synthesize(self, text: str) -> bytes:
        """A WAV file (16 kHz mono 16-bit) speaking `text`."""
        ...


class Espeak:
    def __init__(self, voice: str, processes: int) -> None:
        self._voice = voice
        self._slots = asyncio.Semaphore(processes)

    async def synthesize(self, text: str) -> bytes:
        async with self._slots:
            wav = await self._run(text)
        return await asyncio.to_thread(_normalized, wav, ESPEAK)

    async def _run(self, text: str) -> bytes:
        args = ("--stdout", "-b", "1", "-v", self._voice)
        try:
            proc = await asyncio.create_subprocess_exec(
                ESPEAK,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError as exc:
            raise TtsError(f"{ESPEAK} is not installed ({INSTALL_HINT})") from exc
        try:
            out, err = await proc.communicate(text.encode())
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if proc.returncode != 0:
            raise TtsError(f"{ESPEAK} failed ({proc.returncode}): {err.decode(errors='replace')}")
        return out


class OpenAISpeech:
    def __init__(self, client: Any, model: str, voice: str, processes: int) -> None:
        self._client = client
        self._model = model
        self._voice = voice
        self._slots = asyncio.Semaphore(processes)

    async def synthesize(self, text: str) -> bytes:
        import openai

        try:
            async with self._slots:
                response = await self._client.audio.speech.create(
                    model=self._model, voice=self._voice, input=text, response_format="wav"
                )
                wav = response.content
        except openai.APIError as exc:
            raise TtsError(f"the text-to-speech server failed: {exc}") from exc
        return await asyncio.to_thread(_normalized, wav, "the text-to-speech server")


def _normalized(wav: bytes, source: str) -> bytes:
    try:
        return normalized_wav(wav)
    except (BadWav, NotWav) as exc:
        raise TtsError(f"{source} sent audio that is not a usable WAV: {exc}") from exc
