"""Speech to text: what a voice utterance said, partial results first.

`STT_BACKEND=pocketsphinx` (default) decodes offline with the English model the `pocketsphinx`
wheel ships: half a second of audio at a time, in a thread, yielding the hypothesis whenever it
changed, then the final one. At most `STT_DECODERS` utterances decode at once per worker (each
decoder holds its model, loaded once, ~0.7 s); more wait their turn.
`STT_BACKEND=openai` posts the utterance (as 16 kHz mono WAV) to `audio.transcriptions` of
any OpenAI-compatible server with the official SDK; with `STT_OPENAI_STREAM` the server's
`transcript.text.delta` events are the partial results.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from .pcm import RATE

BLOCK_BYTES = RATE  # half a second of 16 kHz 16-bit audio


@dataclass(frozen=True)
class Heard:
    text: str
    final: bool
    duration_s: float
    """Seconds of audio decoded so far."""


class SttError(RuntimeError):
    """The speech recogniser failed (the run ends with `error` `stt_error`)."""


class SpeechToText(Protocol):
    def transcribe(self, pcm: bytes) -> AsyncIterator[Heard]:
        """Partial results, then exactly one final, for 16 kHz mono 16-bit PCM."""
        ...


class PocketSphinx:
    def __init__(self, decoders: int) -> None:
        self._slots = asyncio.Semaphore(decoders)
        self._idle: list[Any] = []

    @asynccontextmanager
    async def _decoder(self) -> AsyncIterator[Any]:
        """A decoder of the pool; one interrupted mid-utterance is dropped, not reused."""
        async with self._slots:
            decoder = self._idle.pop() if self._idle else await asyncio.to_thread(_new_decoder)
            yield decoder
            self._idle.append(decoder)

    async def transcribe(self, pcm: bytes) -> AsyncIterator[Heard]:
        async with self._decoder() as decoder:
            await asyncio.to_thread(decoder.start_utt)
            last = ""
            for start in range(0, len(pcm), BLOCK_BYTES):
                block = pcm[start : start + BLOCK_BYTES]
                text = await asyncio.to_thread(_process, decoder, block)
                if text and text != last:
                    last = text
                    yield Heard(text, False, (start + len(block)) / (2 * RATE))
            text = await asyncio.to_thread(_end, decoder)
        yield Heard(text, True, len(pcm) / (2 * RATE))


def _new_decoder() -> Any:
    from pocketsphinx import Decoder  # loaded by the first utterance, not at import

    return Decoder(loglevel="FATAL")


def _process(decoder: Any, block: bytes) -> str:
    decoder.process_raw(block, False, False)
    hyp = decoder.hyp()
    return str(hyp.hypstr) if hyp is not None else ""


def _end(decoder: Any) -> str:
    decoder.end_utt()
    hyp = decoder.hyp()
    return str(hyp.hypstr) if hyp is not None else ""


class OpenAITranscriber:
    def __init__(self, client: Any, model: str, stream: bool) -> None:
        self._client = client
        self._model = model
        self._stream = stream

    async def transcribe(self, pcm: bytes) -> AsyncIterator[Heard]:
        import openai
        from switchboard_protocol.wav import write_wav

        duration = len(pcm) / (2 * RATE)
        upload = ("utterance.wav", write_wav(pcm, RATE), "audio/wav")
        create = self._client.audio.transcriptions.create
        try:
            if not self._stream:
                result = await create(model=self._model, file=upload)
                yield Heard(str(result.text), True, duration)
                return
            text = ""
            async for event in await create(model=self._model, file=upload, stream=True):
                if event.type == "transcript.text.delta":
                    text += event.delta
                    yield Heard(text, False, duration)
                elif event.type == "transcript.text.done":
                    text = event.text
            yield Heard(text, True, duration)
        except openai.APIError as exc:
            raise SttError(f"the speech-to-text server failed: {exc}") from exc
