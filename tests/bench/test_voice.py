"""`python -m bench --voice`: time to first audio, measured with a real run worker (espeak-ng)."""

import pytest

from bench.__main__ import parse
from bench.voice import TARGET_S, measure

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]


def test_the_voice_flag_runs_it_alone_five_times_by_default() -> None:
    assert parse(["--voice"]).voice_runs == 5 and parse(["--voice", "2"]).voice_runs == 2
    assert parse([]).voice_runs == 0


async def test_one_reply_is_measured_from_first_token_to_first_audio(amqp_url: str) -> None:
    result = await measure(amqp_url, 1)

    (seconds,) = result["first_audio_s"]
    assert 0 < seconds == result["median_s"] == result["max_s"]  # a figure, not a verdict
    assert result["target_s"] == TARGET_S and "300 words at 20 tokens/s" in result["reply"]
