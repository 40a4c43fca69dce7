"""The suite runs on the shipped defaults whatever the caller exported."""

import os

from tests.hermetic import TEST_INPUTS, scrub, service_variables


def test_service_variables_cover_the_settings_that_bit_us() -> None:
    bit = {"GATEWAY_PORT", "ACK_WINDOW", "STREAM_SHARDS", "COALESCE_WINDOW_MS"}
    assert bit <= service_variables()


def test_scrub_removes_service_settings_in_any_case_and_keeps_the_rest() -> None:
    environ = {
        "GATEWAY_PORT": "9000",
        "stream_shards": "8",
        "AMQP_URL": "amqp://elsewhere/",
        "DATABASE_URL": "postgresql://elsewhere/x",
        "HOME": "/root",
    }
    assert scrub(environ) == ["GATEWAY_PORT", "stream_shards"]
    assert environ == {
        "AMQP_URL": "amqp://elsewhere/",
        "DATABASE_URL": "postgresql://elsewhere/x",
        "HOME": "/root",
    }


def test_no_service_setting_of_the_caller_is_left_in_this_run() -> None:
    """tests/conftest.py scrubbed os.environ; run it as `GATEWAY_PORT=1 pytest ...` to see."""
    leaked = {key for key in os.environ if key.upper() in service_variables() - TEST_INPUTS}
    assert not leaked
