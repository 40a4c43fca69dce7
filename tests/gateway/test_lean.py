"""What keeps an idle device cheap and a connect fast: the ASGI fast path, a connect that
declares nothing on the broker, and a publisher that sends an event on an idle lane at once
(device checks: test_device_checks.py)."""

import asyncio
import gc
import weakref

import pytest
from starlette.websockets import WebSocket
from switchboard_edge.auth import AuthSettings, issue_dev_token
from switchboard_events import BrokerSettings, Names, Publisher, broker_connection, make_event
from switchboard_gateway.asgi import _session_of
from switchboard_gateway.handshake import handshake
from switchboard_gateway.lean_ws import Inbox, Writable, _forget_request
from switchboard_gateway.settings import GatewaySettings
from switchboard_gateway.upstream import Answer
from websockets.http11 import Request
from websockets.server import ServerProtocol

pytestmark = pytest.mark.timeout(30)


async def test_inbox_is_fifo_and_wakes_its_reader() -> None:
    inbox: Inbox[int | None] = Inbox()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait(1)
    inbox.put_nowait(None)
    assert await reader == 1
    assert await inbox.get() is None
    inbox.put_nowait(2)
    inbox.clear()
    assert inbox.empty()


def test_fast_path_takes_exactly_the_device_socket_route() -> None:
    assert _session_of("/ai/ws/s1") == "s1"
    assert _session_of("/ai/ws/") is None
    assert _session_of("/ai/ws/s1/extra") is None
    assert _session_of("/ai/sessions") is None


@pytest.mark.broker
async def test_an_event_on_an_idle_lane_goes_out_at_once(
    broker_settings: BrokerSettings, names: Names
) -> None:
    settings = broker_settings.model_copy(update={"coalesce_window_ms": 0})
    async with broker_connection(settings) as conn:
        channel = await conn.channel()
        publisher = await Publisher(channel, names, settings).start()
        event = make_event("typing", {"status": "typing", "message": ""}, session_id="s1")
        await asyncio.wait_for(publisher.publish(event), 10)
        burst = [
            publisher.enqueue(make_event("token", {"token": f"t{i}"}, session_id="s1"))
            for i in range(20)
        ]
        await asyncio.wait_for(asyncio.gather(*burst), 10)
        assert publisher.messages_sent == 2, "a burst enqueued at once travels as one message"


async def test_writable_waits_only_while_cleared_and_wakes_every_waiter() -> None:
    flag = Writable()
    assert flag.is_set() and await flag.wait()
    flag.clear()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    assert await asyncio.gather(*waiters) == [True, True]
    flag.clear()
    cancelled = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    flag.set()  # a cancelled waiter is skipped
    assert flag.is_set()


_UPGRADE = (
    b"GET /ai/ws/s1 HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Authorization: Bearer secret\r\n\r\n"
)


def _masked_text(text: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    return (
        bytes([0x81, 0x80 | len(text)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text))
    )


def _accepted(pipelined: bytes = b"") -> tuple[ServerProtocol, "weakref.ref[Request]"]:
    conn = ServerProtocol()
    conn.receive_data(_UPGRADE + pipelined)
    [request] = conn.events_received()
    assert isinstance(request, Request)
    conn.send_response(conn.accept(request))
    conn.data_to_send()
    return conn, weakref.ref(request)


def test_the_upgrade_request_is_let_go_once_accepted_and_frames_still_parse() -> None:
    conn, request = _accepted()
    assert _forget_request(conn)
    gc.collect()
    assert request() is None  # the parser held it (and its headers) for the socket's life
    conn.receive_data(_masked_text(b'{"type":"auth"}')[:5])
    assert conn.events_received() == []
    conn.receive_data(_masked_text(b'{"type":"auth"}')[5:] + _masked_text(b"x"))
    assert [frame.data for frame in conn.events_received()] == [b'{"type":"auth"}', b"x"]


def test_a_parser_with_a_frame_under_way_is_left_as_it_is() -> None:
    hello = _masked_text(b"hello")
    for pipelined in (hello[:2], hello[:4]):  # mid-frame, nothing buffered / some buffered
        conn, _ = _accepted(pipelined)
        assert not _forget_request(conn)
        conn.receive_data(hello[len(pipelined) :])
        assert [frame.data for frame in conn.events_received()] == [b"hello"]


async def test_the_handshake_reads_the_upgrade_request_once_then_drops_it() -> None:
    """The socket's scope keeps no headers (the token among them) and no parsed query once
    the handshake read them; the caller is what they said."""
    alice = issue_dev_token("alice", AuthSettings())
    scope = {
        "type": "websocket",
        "path": "/ai/ws/s1",
        "query_string": b"client_id=tab&ack=client&cursor=0.1.2.abc",
        "headers": [(b"authorization", f"Bearer {alice}".encode()), (b"host", b"gw")],
    }

    async def receive() -> dict[str, str]:
        raise AssertionError("a bearer header needs no auth frame")

    async def send(message: object) -> None:
        raise AssertionError("the handshake sends nothing")

    class Sessions:
        async def open_device(self, token: str, session_id: str, client_id: str) -> Answer:
            assert (token, session_id, client_id) == (alice, "s1", "tab")
            body = {"status": "active", "mode": "text", "agent_type": "personal"}
            return Answer(200, {**body, "active_run_id": None}, None, (2, 7))

    ws = WebSocket(scope, receive, send)  # type: ignore[arg-type]
    caller = await handshake(ws, "s1", GatewaySettings(), Sessions())  # type: ignore[arg-type]
    assert (caller.user_id, caller.client_id, caller.cursor) == ("alice", "tab", "0.1.2.abc")
    assert caller.token == alice and caller.idle_at == (2, 7)
    assert ws.scope["headers"] == [] and "_headers" not in vars(ws)
    assert "_query_params" not in vars(ws)
