"""Voice with the real engines: pocketsphinx hears a client's WAV (`stt` partials, then the
final), espeak-ng speaks replies sentence by sentence while they are generated."""

import base64
import io
import wave

import pytest
from switchboard_client.voice import join_tts

from tests.speech import SENTENCE, data_size, espeak_wav, float_stereo, hear, heard_words
from tests.worker.harness import Client, assert_seq, types

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]


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


async def test_spoken_sentence_becomes_partial_then_final_stt_and_a_run(client: Client, worker):
    wav = espeak_wav(SENTENCE)
    device = await client.device()
    events = await device.run(await client.send(device, audio_b64=b64(wav)))

    assert_seq(events)
    stt = [e.data for e in events if e.type == "stt"]
    assert types(events)[1 : 1 + len(stt)] == ["stt"] * len(stt)
    assert [s.final for s in stt] == [False] * (len(stt) - 1) + [True] and len(stt) >= 2
    assert len(heard_words(stt[-1].text)) >= 3, stt[-1].text
    assert events[-1].data.status == "completed"


async def test_a_48_khz_float_stereo_recording_is_heard_too(client: Client, worker):
    wav = float_stereo(espeak_wav(SENTENCE), 48000)
    device = await client.device()
    events = await device.run(await client.send(device, audio_b64=b64(wav)))

    final = next(e.data for e in events if e.type == "stt" and e.data.final)
    assert len(heard_words(final.text)) >= 3, final.text


async def test_a_streaming_header_reports_the_true_duration(client: Client, worker):
    wav = espeak_wav(SENTENCE)
    assert data_size(wav) >= 0x7FFF0000  # espeak-ng's placeholder: the size is unknown
    device = await client.device()
    events = await device.run(await client.send(device, audio_b64=b64(wav)))

    final = next(e.data for e in events if e.type == "stt" and e.data.final)
    true_duration = (len(wav) - 44) / 2 / 22050
    assert abs(final.duration_s - true_duration) < 0.01 and final.duration_s < 10


async def test_silence_ends_the_run_no_speech(client: Client, worker):
    device = await client.device()
    events = await device.run(await client.send(device, audio_b64=b64(silence(1.2))))

    assert types(events) == ["run_start", "stt", "error", "run_end"]
    assert events[1].data.final and events[1].data.duration_s == 1.2
    assert events[2].data.code == "no_speech" and "1.2 s" in events[2].data.message


async def test_unreadable_audio_fails_the_run(client: Client, worker):
    device = await client.device()
    events = await device.run(await client.send(device, audio_b64=b64(b"not a wav at all")))

    assert types(events) == ["run_start", "error", "run_end"]
    assert events[1].data.code == "bad_audio"


async def test_speak_reply_heard_back_holds_its_words(client: Client, worker):
    text = "One two three. Four five six seven eight nine."
    device = await client.device()
    events = await device.run(await client.send(device, f"/speak {text}"))

    tts = [e.data for e in events if e.type == "tts"]
    assert types(events) == ["run_start"] + ["tts"] * len(tts) + ["response", "run_end"]
    assert len(tts) == 2 and [c.final for c in tts] == [False, True]
    for chunk in tts:
        with wave.open(io.BytesIO(base64.b64decode(chunk.audio))) as audio:
            assert (audio.getnchannels(), audio.getsampwidth()) == (1, 2)
            assert audio.getframerate() == 16000 and audio.getnframes() > 0
    heard = await hear(join_tts(tts))
    assert len(heard_words(heard)) >= 3, heard


async def test_voice_reply_is_spoken_while_its_tokens_still_arrive(client: Client, worker):
    device = await client.device()
    events = await device.run(await client.send(device, "/tokens 100 rate=20", mode="voice"))

    kinds = types(events)
    first_tts, last_token = kinds.index("tts"), len(kinds) - 1 - kinds[::-1].index("token")
    assert first_tts < last_token  # 8 words make the first piece: spoken long before token 100
    tts = [e.data for e in events if e.type == "tts"]
    assert [c.chunk for c in tts] == list(range(len(tts))) and len(tts) >= 2
    assert [c.final for c in tts] == [False] * (len(tts) - 1) + [True]
    assert kinds[-2:] == ["response", "run_end"] and kinds[-3] == "tts"


async def test_a_cancel_stops_the_speech_of_a_voice_reply(client: Client, worker):
    device = await client.device()
    run_id = await client.send(device, "/tokens 200 rate=20", mode="voice")
    before = await device.until("tts", run_id)
    await client.cancel(device, run_id)
    after = await device.until("run_end", run_id)

    assert after[-1].data.status == "cancelled"
    assert before[-1].data.chunk == 0 and not before[-1].data.final
    assert all(not e.data.final for e in after if e.type == "tts")  # never finished speaking
