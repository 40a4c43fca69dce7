"""Backoff, dedupe LRU, seq tracking, ack pacing, token expiry: the stream's building blocks."""

import io
import random

import pytest
from switchboard_client.acks import AckState
from switchboard_client.backoff import Backoff
from switchboard_client.dedupe import RecentIds
from switchboard_client.frames import ws_url
from switchboard_client.notices import ReloadNotice, RunCatchUp
from switchboard_client.render import Renderer
from switchboard_client.seqcheck import SeqTracker
from switchboard_client.tokens import token_expiry
from switchboard_protocol import make_event

from tests.client.fake_gateway import FakeGateway


def test_backoff_grows_with_jitter_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(base_s=0.1, cap_s=1.0, _rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [min(1.0, 0.1 * 2**i) for i in range(8)]
    assert all(0.05 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not fixed steps
    assert max(delays[4:]) > 0.4  # it did grow
    backoff.reset()
    assert backoff.next_delay() <= 0.1


def test_recent_ids_forget_the_oldest_beyond_capacity() -> None:
    recent = RecentIds(capacity=3)
    for event_id in "abcd":
        recent.add(event_id)
    assert "a" not in recent and all(x in recent for x in "bcd")
    recent.add("b")  # refreshed: now the newest
    recent.add("e")
    assert "c" not in recent and "b" in recent
    assert len(recent) == 3
    with pytest.raises(ValueError):
        RecentIds(0)


def test_seq_holes_are_jumps_within_a_run() -> None:
    seqs = SeqTracker(capacity=3)
    assert seqs.check("r1", 1, resumed=True) == "next"
    assert seqs.check("r1", 2, resumed=True) == "next"
    assert seqs.check("r1", 4, resumed=False) == "seq_gap"
    assert seqs.check("r1", 2, resumed=True) == "next"  # a redelivery is not a hole
    assert seqs.check("r2", 7, resumed=False) == "joined_mid_run"  # never silent
    assert seqs.check("r3", 7, resumed=True) == "next"  # recovered: began before the cursor


def test_a_catch_up_covers_its_run_up_to_its_seq() -> None:
    seqs = SeqTracker()
    assert seqs.catch_up("r1", 5)  # news: nothing of r1 seen yet
    assert [seqs.check("r1", s, resumed=False) for s in (3, 5, 6, 7)] == [
        "covered",
        "covered",
        "next",
        "next",
    ]
    assert not seqs.catch_up("r1", 6)  # already seen that far: no news
    assert seqs.check("r1", 9, resumed=False) == "seq_gap"
    assert seqs.catch_up("r2", 0) and seqs.check("r2", 1, resumed=False) == "next"


def test_acks_are_due_every_half_window() -> None:
    acks = AckState(window=6)
    assert [acks.processed(str(i)) for i in range(3)] == [False, False, True]
    assert acks.take() == "2" and acks.take() is None


def test_token_expiry_and_ws_url() -> None:
    token = FakeGateway().token(ttl_s=100)
    assert token_expiry(token) is not None
    assert token_expiry("not-a-jwt") is None
    url = ws_url("https://example.test/base/", "S1", "web-1")
    assert url == "wss://example.test/base/ai/ws/S1?client_id=web-1&ack=client"


def test_the_cli_shows_a_catch_up_and_says_when_a_run_started_before_it_joined() -> None:
    out = io.StringIO()
    renderer = Renderer("me", out, color=False)
    call = {"call_id": "c1", "tool_name": "get_time", "parameters": {}}
    renderer.show(RunCatchUp("s1", "r1", 7, "personal", "t1 t2 ", [call]))
    renderer.show(ReloadNotice("s1", "joined_mid_run", {}, "r2"))
    text = out.getvalue()
    assert "get_time" in text and "personal> t1 t2 " in text
    assert "started before we joined" in text


def test_the_cli_shows_an_agents_state_snapshot_and_delta() -> None:
    out = io.StringIO()
    renderer = Renderer("me", out, color=False)
    delta = [{"op": "replace", "path": "/city", "value": "Rome"}]
    renderer.show(make_event("state", {"snapshot": {"city": "Oslo"}}, session_id="s1"))
    renderer.show(make_event("state", {"delta": delta}, session_id="s1"))
    assert out.getvalue().splitlines() == [
        'state {"city": "Oslo"}',
        'state change [{"op": "replace", "path": "/city", "value": "Rome"}]',
    ]


def test_the_cli_shows_who_answers_across_an_agent_switch() -> None:
    out = io.StringIO()
    renderer = Renderer("me", out, color=False)
    envelope = {"session_id": "s1", "run_id": "r1"}
    renderer.show(make_event("token", {"token": "Let me get Tom."}, **envelope))
    switch = {"from": "personal", "to": "travel", "reason": "a trip"}
    renderer.show(make_event("agent_switch", switch, **envelope))
    renderer.show(make_event("token", {"token": "Tom here."}, agent_type="travel", **envelope))
    assert out.getvalue().splitlines() == [
        "personal> Let me get Tom.",
        "[agent personal → travel] a trip",
        "travel> Tom here.",
    ]
