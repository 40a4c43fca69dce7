"""STT_BACKEND=openai and TTS_BACKEND=openai: the official SDK against a local OpenAI-compatible
speech server (tests/worker/fake_speech.py) that speaks the real formats and records requests."""

import base64
import io
import wave
from collections.abc import AsyncIterator

import pytest
from switchboard_protocol.wav import read_wav

from tests.speech import espeak_wav
from tests.worker.fake_speech import FakeSpeech, fake_speech
from tests.worker.harness import Client, running_worker, types, worker_settings

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


@pytest.fixture
async def speech() -> AsyncIterator[FakeSpeech]:
    async with fake_speech() as fake:
        yield fake


def speech_settings(broker_settings, speech: FakeSpeech, **env):
    # the openai backends are what these tests are about: set here, on this worker only
    return worker_settings(
        broker_settings,
        STT_BACKEND="openai",
        TTS_BACKEND="openai",
        OPENAI_BASE_URL=speech.url,
        OPENAI_API_KEY="sk-test",
        STT_OPENAI_MODEL="whisper-tiny",
        TTS_OPENAI_MODEL="tts-tiny",
        TTS_OPENAI_VOICE="nova",
        **env,
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("stream", [False, True])
async def test_transcriptions_hear_the_upload_as_16_khz_wav(
    client: Client, broker_settings, speech: FakeSpeech, stream: bool
):
    async with running_worker(speech_settings(broker_settings, speech, STT_OPENAI_STREAM=stream)):
        device = await client.device()
        events = await device.run(await client.send(device, audio_b64=b64(espeak_wav("hi"))))

    stt = [e.data for e in events if e.type == "stt"]
    assert stt[-1].final and stt[-1].text == "/tokens 2"
    partials = [s.text for s in stt[:-1]]
    assert partials == (["/tokens ", "/tokens 2 "] if stream else [])
    assert [e.data.token for e in events if e.type == "token"] == ["t1 ", "t2 "]
    (request,) = speech.transcriptions
    assert request["model"] == "whisper-tiny"
    audio = read_wav(request["file"])
    assert (audio.rate, audio.channels, audio.width, audio.streaming) == (16000, 1, 2, False)


async def test_speech_speaks_each_sentence_and_chunks_are_16_khz(
    client: Client, broker_settings, speech: FakeSpeech
):
    async with running_worker(speech_settings(broker_settings, speech)):
        device = await client.device()
        events = await device.run(await client.send(device, "/speak One two. Three four!"))

    tts = [e.data for e in events if e.type == "tts"]
    assert [c.final for c in tts] == [False, True]
    assert [s["input"] for s in speech.speeches] == ["One two.", "Three four!"]
    assert {(s["model"], s["voice"], s["response_format"]) for s in speech.speeches} == {
        ("tts-tiny", "nova", "wav")
    }
    for chunk in tts:
        with wave.open(io.BytesIO(base64.b64decode(chunk.audio))) as audio:
            assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (
                16000,
                1,
                2,
            )
            assert audio.getnframes() > 1600


async def test_a_failing_speech_server_fails_the_run_clearly(
    client: Client, broker_settings, speech: FakeSpeech
):
    speech.status = 400  # not retried: the SDK's retries are off, and 400 is final
    async with running_worker(speech_settings(broker_settings, speech)):
        device = await client.device()
        spoken = await device.run(await client.send(device, "/speak hello"))
        heard = await device.run(await client.send(device, audio_b64=b64(espeak_wav("hi"))))

    assert types(spoken)[-2:] == ["error", "run_end"] and spoken[-2].data.code == "tts_error"
    assert types(heard)[-2:] == ["error", "run_end"] and heard[-2].data.code == "stt_error"
