"""Issue 12, item 8: an unexpected error answers 500 on a connection that stays usable.
Starlette's catch-all handler re-raises after answering, and uvicorn then closes the
connection, which the gateway shares among users; the session app answers it itself."""

import asyncio

import pytest
import uvicorn
from switchboard_edge.http_guard import server_options
from switchboard_session.app import create_app
from switchboard_stack import free_port

from tests.session.conftest import AUTH, token


async def test_a_500_keeps_the_connection_open() -> None:
    from switchboard_session.settings import SessionSettings

    settings = SessionSettings(**AUTH.model_dump(by_alias=True))
    app = create_app(settings)
    port = free_port()
    # lifespan off: no database or broker, so every route that needs them fails unexpectedly
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="critical",
        **server_options(settings),
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = (
            f"GET /ai/stats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token('a')}\r\n\r\n"
        ).encode()
        for _ in range(2):  # the second request travels on the same connection
            writer.write(request)
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
            assert head.startswith(b"HTTP/1.1 500"), head
            assert b"connection: close" not in head.lower()
            assert b'"internal_error"' in body
        writer.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


pytestmark = [pytest.mark.timeout(30)]
