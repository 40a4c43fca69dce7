"""Routing names: one place, prefixed, and safe against hostile ids."""

import pytest
from switchboard_events import BrokerSettings, InvalidName, Names, check_name
from switchboard_events.routing import device_queue_arguments


def test_names_carry_the_prefix() -> None:
    names = Names(prefix="t1.")
    assert names.events_exchange == "t1.ai.events"
    assert names.device_queue("s1", "web-1") == "t1.ai.session.s1.web-1"
    assert names.routing_key("s1", "token") == "session.s1.token"
    assert names.session_binding("s1") == "session.s1.#"


@pytest.mark.parametrize(
    "bad", ["", "a.b", "#", "*", "a/b", "../x", "x" * 65, "a b", "é", "s1.#", "a\nb"]
)
def test_hostile_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidName):
        check_name(bad)
    with pytest.raises(InvalidName):
        Names().device_queue(bad, "ok")
    with pytest.raises(InvalidName):
        Names().device_queue("ok", bad)


def test_device_queue_arguments_follow_settings() -> None:
    settings = BrokerSettings(
        DEVICE_BUFFER_TTL_S=60, DEVICE_BUFFER_MAX_EVENTS=5, QUEUE_TYPE="quorum"
    )
    assert device_queue_arguments(settings) == {
        "x-expires": 60_000,
        "x-max-length": 5,
        "x-overflow": "drop-head",
        "x-queue-type": "quorum",
        "x-queue-leader-locator": "balanced",  # leaders spread over the cluster's nodes
        "x-single-active-consumer": True,  # quorum queues ignore exclusive consumers
    }


def test_classic_device_queues_keep_their_arguments() -> None:
    settings = BrokerSettings(DEVICE_BUFFER_TTL_S=60, DEVICE_BUFFER_MAX_EVENTS=5)
    assert device_queue_arguments(settings) == {
        "x-expires": 60_000,
        "x-max-length": 5,
        "x-overflow": "drop-head",
        "x-queue-type": "classic",
    }
