"""Device checks from the gateway's side (a stand-in session service speaking the batch route's
shape): connects that come while every slot is busy go together in the next request, each gets
its own answer, identical lookups share one, and a slow or old session service is handled."""

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx
import pytest
from switchboard_gateway.checks import MAX_BATCH
from switchboard_gateway.upstream import (
    BATCH_PATH,
    MAX_CHECK_TOKEN_CHARS,
    SessionService,
    UpstreamUnavailable,
)

pytestmark = pytest.mark.timeout(30)

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def _devices(request: httpx.Request) -> list[dict[str, str]]:
    assert request.url.path == BATCH_PATH
    devices: list[dict[str, str]] = json.loads(request.content)["devices"]
    return devices


def _answer(devices: list[dict[str, str]], status: Callable[[str], int] = lambda _: 200):
    results = [
        {"status": status(d["client_id"]), "body": {"status": "active", "client": d["client_id"]}}
        for d in devices
    ]
    return httpx.Response(200, json={"results": results})


def _service(handler: Handler, **kwargs: object) -> SessionService:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return SessionService(http, "http://session", **kwargs)  # type: ignore[arg-type]


async def test_connects_while_every_slot_is_busy_go_together_in_the_next_request() -> None:
    batches: list[list[str]] = []
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        devices = _devices(request)
        batches.append([d["client_id"] for d in devices])
        await release.wait()
        return _answer(devices)

    sessions = _service(handler, check_slots=2)
    try:
        first = []
        for n in (0, 1):
            first.append(asyncio.create_task(sessions.open_device("tok", "s1", f"a{n}")))
            while len(batches) <= n:
                await asyncio.sleep(0.01)
        assert batches == [["a0"], ["a1"]]  # a free slot: sent at once, alone
        queued = [asyncio.create_task(sessions.open_device("tok", "s1", f"b{n}")) for n in range(5)]
        while sessions.checks_waiting < 5:
            await asyncio.sleep(0.01)
        release.set()
        answers = await asyncio.gather(*first, *queued)
        assert [a.body["client"] for a in answers] == ["a0", "a1", *[f"b{n}" for n in range(5)]]
        assert batches[2:] == [[f"b{n}" for n in range(5)]]
    finally:
        await sessions.aclose()


async def test_each_device_gets_its_own_answer_and_big_queues_are_split() -> None:
    sizes: list[int] = []
    gate = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        devices = _devices(request)
        sizes.append(len(devices))
        await gate.wait()
        return _answer(devices, lambda cid: 404 if cid.endswith("x") else 200)

    sessions = _service(handler, check_slots=1)
    try:
        names = ["first", *[f"d{n}{'x' if n % 3 == 0 else ''}" for n in range(MAX_BATCH + 10)]]
        tasks = [asyncio.create_task(sessions.open_device("tok", "s1", names[0]))]
        while not sizes:
            await asyncio.sleep(0.01)
        tasks += [asyncio.create_task(sessions.open_device("tok", "s1", c)) for c in names[1:]]
        while sessions.checks_waiting < len(names) - 1:
            await asyncio.sleep(0.01)
        gate.set()
        answers = await asyncio.gather(*tasks)
        assert [a.status for a in answers] == [404 if c.endswith("x") else 200 for c in names]
        assert [a.body["client"] for a in answers] == names
        assert sizes == [1, MAX_BATCH, 10]
    finally:
        await sessions.aclose()


async def test_identical_lookups_in_flight_share_one_check_and_nothing_is_cached() -> None:
    asked: list[tuple[str, ...]] = []
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        devices = _devices(request)
        asked.extend((d["token"], d["client_id"]) for d in devices)
        await release.wait()
        return _answer(devices)

    sessions = _service(handler)
    try:
        alice = [
            asyncio.create_task(sessions.open_device("tok-a", "s1", "phone")) for _ in range(5)
        ]
        bob = asyncio.create_task(sessions.open_device("tok-b", "s1", "phone"))
        while len(asked) < 2:
            await asyncio.sleep(0.01)
        release.set()
        assert {a.status for a in await asyncio.gather(*alice, bob)} == {200}
        assert sorted(asked) == [("tok-a", "phone"), ("tok-b", "phone")]  # never across tokens
        await sessions.open_device("tok-a", "s1", "phone")
        assert len(asked) == 3  # a later connect asks again
    finally:
        await sessions.aclose()


async def test_a_session_service_without_the_batch_route_is_asked_device_by_device() -> None:
    """An older session service during a rolling upgrade answers the batch 404."""
    singles: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == BATCH_PATH:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})
        singles.append(request.url.path)
        return httpx.Response(200, json={"status": "active", "mode": "text"})

    sessions = _service(handler)
    try:
        answer = await sessions.open_device("tok", "s1", "phone")
        assert answer.status == 200 and answer.body["status"] == "active"
        assert singles == ["/ai/sessions/s1/devices"]
    finally:
        await sessions.aclose()


async def test_a_batch_the_service_fails_fails_each_of_its_devices() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        _devices(request)
        return httpx.Response(503, json={"error": {"code": "database_unavailable", "message": ""}})

    sessions = _service(handler)
    try:
        answers = await asyncio.gather(
            *(sessions.open_device("t", "s1", f"d{n}") for n in range(3))
        )
        assert {a.status for a in answers} == {503}  # the handshake closes them 1013
    finally:
        await sessions.aclose()


async def test_a_device_check_without_an_answer_in_time_is_unavailable() -> None:
    """Waiting for a slot and the call share one UPSTREAM_TIMEOUT_S (the connect then closes
    1013); a check that gave up is not sent later, and the slot comes back."""
    never, entered = asyncio.Event(), asyncio.Event()
    asked: list[str] = []

    async def hang(request: httpx.Request) -> httpx.Response:
        devices = _devices(request)
        asked.extend(d["client_id"] for d in devices)
        if devices[0]["client_id"] == "a":
            entered.set()
            await never.wait()
        return _answer(devices)

    sessions = _service(hang, check_slots=1, check_timeout_s=0.2)
    try:
        held = asyncio.create_task(sessions.open_device("tok", "s1", "a"))
        await entered.wait()
        with pytest.raises(UpstreamUnavailable):
            await sessions.open_device("tok", "s1", "b")
        with pytest.raises(UpstreamUnavailable):
            await held  # began first, so its deadline passed first
        never.set()
        assert (await sessions.open_device("tok", "s1", "c")).status == 200
        assert asked == ["a", "c"]  # b gave up before a slot freed: never sent
    finally:
        await sessions.aclose()


async def test_refused_batches_fall_back_to_one_call_per_device_failing_each_alone() -> None:
    """413 (a session service with a smaller body limit), and a transport failure on one
    device's own call: that device alone gets no answer."""
    singles: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == BATCH_PATH:
            return httpx.Response(413, json={"error": {"code": "body_too_large", "message": ""}})
        client_id = json.loads(request.content)["client_id"]
        singles.append(client_id)
        if client_id == "broken":
            raise httpx.ConnectError("reset")
        return httpx.Response(200, json={"status": "active", "client": client_id})

    sessions = _service(handler, check_slots=1)
    try:
        first = asyncio.create_task(sessions.open_device("tok", "s1", "first"))
        await first
        calls = [sessions.open_device("tok", "s1", c) for c in ("a", "broken", "b")]
        answers = await asyncio.gather(*calls, return_exceptions=True)
        assert [getattr(a, "body", {}).get("client") for a in answers] == ["a", None, "b"]
        assert isinstance(answers[1], UpstreamUnavailable)
        assert singles == ["first", "a", "broken", "b"]
    finally:
        await sessions.aclose()


async def test_a_token_too_long_for_a_batch_is_asked_about_alone() -> None:
    paths: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path == BATCH_PATH:
            return _answer(_devices(request))
        return httpx.Response(200, json={"status": "active", "client": "long"})

    sessions = _service(handler)
    try:
        answer = await sessions.open_device("t" * (MAX_CHECK_TOKEN_CHARS + 1), "s1", "long")
        assert answer.status == 200 and paths == ["/ai/sessions/s1/devices"]
    finally:
        await sessions.aclose()


async def test_closing_fails_checks_in_flight_and_waiting_and_rest_never_waits() -> None:
    """REST calls keep their own pool while checks are stuck; closing answers every check."""
    entered = asyncio.Event()

    async def stuck(request: httpx.Request) -> httpx.Response:
        entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def rest(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json={"message_id": "m", "run_id": "r"})

    rest_http = httpx.AsyncClient(transport=httpx.MockTransport(rest))
    check_http = httpx.AsyncClient(transport=httpx.MockTransport(stuck))
    sessions = SessionService(rest_http, "http://session", check_http, check_slots=1)
    in_flight = asyncio.create_task(sessions.open_device("tok", "s1", "a"))
    await entered.wait()
    waiting = asyncio.create_task(sessions.open_device("tok", "s1", "b"))
    while sessions.checks_waiting < 1:
        await asyncio.sleep(0.01)
    sent = await sessions.post_message("tok", "s1", "a", {"content": "hi"})
    assert sent.status == 202, "a REST call does not wait behind the checks"
    await sessions.aclose()
    for task in (in_flight, waiting):
        with pytest.raises(UpstreamUnavailable):
            await asyncio.wait_for(task, 5)
    with pytest.raises(UpstreamUnavailable):
        await sessions.open_device("tok", "s1", "c")
    assert rest_http.is_closed and check_http.is_closed


async def test_a_batch_results_idle_at_reaches_the_answer_and_a_malformed_one_is_dropped() -> None:
    idle_at = {
        "idle": {"shard": 2, "position": 41},
        "absent": None,
        "text": {"shard": "2", "position": 41},
        "bool": {"shard": 2, "position": True},
        "list": [2, 41],
    }

    async def handler(request: httpx.Request) -> httpx.Response:
        results = [
            {"status": 200, "body": {"status": "active"}, "idle_at": idle_at[d["client_id"]]}
            for d in _devices(request)
        ]
        return httpx.Response(200, json={"results": results})

    sessions = _service(handler, check_slots=1)
    try:
        answers = await asyncio.gather(*(sessions.open_device("t", "s1", c) for c in idle_at))
        assert [a.idle_at for a in answers] == [(2, 41), None, None, None, None]
    finally:
        await sessions.aclose()
