"""Voice through the SDK against every real service (gateway, session service, run worker, each
its own process): espeak-ng's WAV is heard by pocketsphinx, a broken upload is refused."""

import asyncio

import pytest
from switchboard_client import ApiError, SwitchboardClient, join_tts, send_audio
from switchboard_protocol.wav import read_wav

from tests.speech import SENTENCE, espeak_wav, heard_words
from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(180)]


async def test_an_utterance_is_heard_and_its_reply_spoken(stack: Stack) -> None:
    token = await SwitchboardClient.dev_token("alice", stack.url)
    async with SwitchboardClient(stack.url, token) as client:
        sid = (await client.create_session(mode="voice", client_id="mic"))["id"]
        async with client.events(sid, client_id="mic") as stream:
            run_id = (await send_audio(client, sid, espeak_wav(SENTENCE)))["run_id"]
            events = []
            async with asyncio.timeout(90):
                async for item in stream:
                    if getattr(item, "run_id", None) == run_id:
                        events.append(item)
                        if item.type == "run_end":
                            break

    stt = [e.data for e in events if e.type == "stt"]
    assert stt and [s.final for s in stt] == [False] * (len(stt) - 1) + [True]
    assert len(heard_words(stt[-1].text)) >= 3, stt[-1].text
    tts = [e for e in events if e.type == "tts"]
    assert tts and tts[-1].data.final and events[-1].data.status == "completed"
    assert read_wav(join_tts(tts)).duration_s > 1  # one WAV of the whole spoken reply


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"ID3\x04\x00\x00" + bytes(4000), 415, "unsupported_media_type"),
        (None, 422, "bad_audio"),  # a truncated espeak-ng WAV, below
    ],
)
async def test_a_broken_upload_gets_its_clear_error(stack: Stack, body, status, code) -> None:
    whole = espeak_wav("one two three")
    header = bytearray(whole[:44])
    header[40:44] = (len(whole) - 44).to_bytes(4, "little")  # a true size, then cut the data
    wav = body if body is not None else bytes(header) + whole[44 : len(whole) // 2]
    token = await SwitchboardClient.dev_token("alice", stack.url)
    async with SwitchboardClient(stack.url, token) as client:
        sid = (await client.create_session(mode="voice"))["id"]
        with pytest.raises(ApiError) as refused:
            await send_audio(client, sid, wav)
        assert refused.value.status == status and refused.value.code == code
        if status == 422:
            assert "truncated" in str(refused.value)
        assert (await client.get_session(sid))["messages"] == []
