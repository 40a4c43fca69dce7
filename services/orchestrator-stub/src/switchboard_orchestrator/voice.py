"""The run worker's speech engines (STT_BACKEND, TTS_BACKEND), made once per process."""

import logging
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from .settings import WorkerSettings
from .stt import OpenAITranscriber, PocketSphinx, SpeechToText
from .tts import ESPEAK, INSTALL_HINT, Espeak, OpenAISpeech, TextToSpeech

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Voice:
    stt: SpeechToText
    tts: TextToSpeech


def default_voice() -> Voice:
    """The shipped defaults (pocketsphinx, espeak-ng), for a context made without settings."""
    return Voice(PocketSphinx(2), Espeak("en-us", 4))


@asynccontextmanager
async def voice_from(settings: WorkerSettings) -> AsyncIterator[Voice]:
    """The configured engines; an OpenAI client, when one is used, is closed on exit."""
    client = (
        _openai_client(settings)
        if "openai" in (settings.stt_backend, settings.tts_backend)
        else None
    )
    stt: SpeechToText = PocketSphinx(settings.stt_decoders)
    if settings.stt_backend == "openai":
        stt = OpenAITranscriber(client, settings.stt_openai_model, settings.stt_openai_stream)
    tts: TextToSpeech = Espeak(settings.espeak_voice, settings.tts_processes)
    if settings.tts_backend == "openai":
        model, voice = settings.tts_openai_model, settings.tts_openai_voice
        tts = OpenAISpeech(client, model, voice, settings.tts_processes)
    elif shutil.which(ESPEAK) is None:
        log.warning("%s not found: voice replies will fail (%s)", ESPEAK, INSTALL_HINT)
    try:
        yield Voice(stt, tts)
    finally:
        if client is not None:
            await client.close()


def _openai_client(settings: WorkerSettings) -> Any:
    from .openai_backend import openai_client  # only when used

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    assert settings.openai_base_url is not None
    return openai_client(settings.openai_base_url, key, settings.openai_timeout_s)
