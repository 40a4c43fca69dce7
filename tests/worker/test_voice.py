"""Voice: spoken responses in voice sessions, and speech-to-text from a client's WAV."""

import base64
import io
import wave

import pytest
from switchboard_orchestrator.audio import synthesize, transcribe

from tests.worker.harness import Client, assert_seq, types

pytestmark = [pytest.mark.broker, pytest.mark.timeout(30)]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def silence(seconds: float) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(int(2 * 8000 * seconds)))
    return buffer.getvalue()


async def test_audio_becomes_stt_events_then_a_run_of_the_transcript(client: Client, worker):
    device = await client.device()
    run_id = await client.send(device, audio_b64=b64(synthesize("/tokens 2")))
    events = await device.run(run_id)

    assert types(events) == [
        "run_start", "stt", "stt", "thinking", "token", "token", "response", "run_end"
    ]  # fmt: skip
    assert_seq(events)
    partial, final = events[1].data, events[2].data
    assert partial.final is False and "/tokens 2".startswith(partial.text)
    assert (final.text, final.final) == ("/tokens 2", True)
    assert events[-2].data.content == "t1 t2 "


async def test_audio_without_embedded_text_is_described(client: Client, worker):
    device = await client.device()
    events = await device.run(await client.send(device, audio_b64=b64(silence(1.2))))

    finals = [e.data.text for e in events if e.type == "stt" and e.data.final]
    assert finals == ["(1.2 s of audio)"]
    assert events[-1].data.status == "completed"


async def test_unreadable_audio_fails_the_run(client: Client, worker):
    device = await client.device()
    events = await device.run(await client.send(device, audio_b64=b64(b"not a wav at all")))

    assert types(events) == ["run_start", "error", "run_end"]
    assert events[1].data.code == "bad_audio"


async def test_voice_mode_speaks_the_response(client: Client, worker):
    device = await client.device()
    events = await device.run(await client.send(device, "/tokens 3", mode="voice"))

    assert types(events)[:6] == ["run_start", "thinking", "token", "token", "token", "tts"]
    assert types(events)[-2:] == ["response", "run_end"]
    tts = [e.data for e in events if e.type == "tts"]
    assert tts[-1].final and [c.chunk for c in tts] == list(range(len(tts)))
    spoken = " ".join(transcribe(base64.b64decode(c.audio)) for c in tts)
    assert spoken == events[-2].data.content.strip() == "t1 t2 t3"


def test_synthesized_wav_is_real_audio_with_its_text():
    wav = synthesize("hi there")
    with wave.open(io.BytesIO(wav)) as audio:
        frames = audio.readframes(audio.getnframes())
    assert audio.getframerate() == 16000 and any(frames)
    assert transcribe(wav) == "hi there"
