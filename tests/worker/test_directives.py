"""Each directive's exact event sequence, from a real worker over a real broker."""

import base64
import io
import wave

import pytest

from tests.worker.harness import Client, assert_seq, types

pytestmark = [pytest.mark.broker, pytest.mark.timeout(30)]


async def test_tokens_emit_exactly_n_tokens_then_their_concatenation(client: Client, worker):
    device = await client.device()
    run_id = await client.send(device, "/tokens 5", message_id="m-user-1")
    events = await device.run(run_id)

    assert types(events) == ["run_start", "thinking"] + ["token"] * 5 + ["response", "run_end"]
    assert_seq(events)
    assert events[0].data.message_id == "m-user-1"
    assert [e.data.token for e in events[2:7]] == ["t1 ", "t2 ", "t3 ", "t4 ", "t5 "]
    response = events[-2].data
    assert response.content == "t1 t2 t3 t4 t5 "
    assert response.message_id not in ("", "m-user-1")
    assert events[-1].data.status == "completed"
    assert {e.session_id for e in events} == {device.session_id}


async def test_tokens_rate_paces_them(client: Client, worker):
    device = await client.device()
    events = await device.run(await client.send(device, "/tokens 3 rate=20"))

    tokens = [e for e in events if e.type == "token"]
    assert len(tokens) == 3
    spread = (tokens[-1].timestamp - tokens[0].timestamp).total_seconds()
    assert spread >= 2 / 20 - 0.005


async def test_agent_switch_then_later_events_carry_the_new_agent(client: Client, worker):
    device = await client.device()
    events = await device.run(await client.send(device, "/agent travel"))

    assert types(events) == ["run_start", "agent_switch", "response", "run_end"]
    assert_seq(events)
    switch = events[1].data.model_dump(by_alias=True)
    assert {k: switch[k] for k in ("from", "to")} == {"from": "personal", "to": "travel"}
    assert switch["reason"]
    assert [e.agent_type for e in events] == ["personal", "personal", "travel", "travel"]
    assert "travel" in events[2].data.content


async def test_error_fails_the_run(client: Client, worker):
    device = await client.device()
    events = await device.run(await client.send(device, "/error"))

    assert types(events) == ["run_start", "error", "run_end"]
    assert_seq(events)
    assert events[1].data.code == "scripted_error"
    assert events[2].data.status == "failed"


async def test_sleep_waits_then_responds(client: Client, worker):
    device = await client.device()
    events = await device.run(await client.send(device, "/sleep 0.2"))

    assert types(events) == ["run_start", "waiting", "response", "run_end"]
    assert_seq(events)
    assert (events[2].timestamp - events[1].timestamp).total_seconds() >= 0.195
    assert events[-1].data.status == "completed"


async def test_speak_sends_wav_chunks_that_decode(client: Client, worker):
    text = "The quick brown fox jumps. Over the lazy dog!"
    device = await client.device()
    events = await device.run(await client.send(device, f"/speak {text}"))

    tts = [e.data for e in events if e.type == "tts"]
    assert types(events) == ["run_start"] + ["tts"] * len(tts) + ["response", "run_end"]
    assert_seq(events)
    assert len(tts) == 2  # one chunk per sentence
    assert [c.chunk for c in tts] == list(range(len(tts)))
    assert [c.final for c in tts] == [False] * (len(tts) - 1) + [True]
    for chunk in tts:
        assert chunk.format == "wav"
        wav = base64.b64decode(chunk.audio)
        with wave.open(io.BytesIO(wav)) as audio:
            assert (audio.getnchannels(), audio.getsampwidth()) == (1, 2)
            assert audio.getframerate() == 16000 and audio.getnframes() > 0
    assert events[-2].data.content == text


async def test_plain_text_gets_a_deterministic_reply_streamed_word_by_word(client: Client, worker):
    device = await client.device()
    first = await device.run(await client.send(device, "What should I cook tonight?"))
    second = await device.run(await client.send(device, "What should I cook tonight?"))

    assert types(first)[:2] == ["run_start", "thinking"]
    assert types(first)[-2:] == ["response", "run_end"]
    tokens = [e.data.token for e in first if e.type == "token"]
    assert len(tokens) > 5 and all(t.count(" ") <= 1 for t in tokens)
    assert "".join(tokens) == first[-2].data.content
    assert first[-2].data.content == second[-2].data.content
    assert_seq(first)


@pytest.mark.parametrize(
    "content", ["/tokens abc", "/tokens -1", "/sleep forever", "/agent a.b", "/speak", "/tool"]
)
async def test_bad_directive_arguments_fail_the_run_clearly(client: Client, worker, content):
    device = await client.device()
    events = await device.run(await client.send(device, content))

    assert types(events) == ["run_start", "error", "run_end"]
    assert events[1].data.code == "bad_directive" and events[1].data.message
    assert events[2].data.status == "failed"


async def test_malformed_run_request_is_dropped_and_the_worker_carries_on(client: Client, worker):
    await client.publish_raw(b"{not json")
    await client.publish_raw(b'{"run_id": "a.b", "session_id": "x"}')
    device = await client.device()
    events = await device.run(await client.send(device, "/tokens 1"))
    assert types(events)[-1] == "run_end" and events[-1].data.status == "completed"
