"""Binary audio frames that are not a readable WAV: an `error` frame naming the problem, and no
run (the session service reads the upload before it stores anything)."""

import pytest

from tests.gateway.conftest import Stack
from tests.gateway.helpers import connect, frame_of
from tests.speech import espeak_wav

pytestmark = [pytest.mark.broker, pytest.mark.e2e, pytest.mark.timeout(60)]


async def test_a_frame_that_is_not_wav_or_is_truncated_gets_its_error(stack: Stack) -> None:
    voice = await stack.session(mode="voice")
    ws, _ = await connect(stack.a, voice, "mic")
    whole = espeak_wav("one")
    truncated = bytearray(whole[:44])
    truncated[40:44] = (len(whole) - 44).to_bytes(4, "little")  # a true size, then cut
    for frame, code, problem in [
        (b"OggS" + bytes(500), "unsupported_media_type", "not a WAV file"),
        (bytes(truncated) + whole[44:1044], "bad_audio", "truncated"),
    ]:
        await ws.send(frame)
        error = await frame_of(ws, "error")
        assert error["code"] == code and problem in error["message"], error
    await ws.close()
