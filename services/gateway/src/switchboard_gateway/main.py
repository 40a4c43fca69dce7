"""`switchboard-gateway --host --port`: uvicorn with WebSocket pings, frame limit, the edge
limits (request heads, connections, trusted proxies: switchboard_edge.http_guard), and a
shutdown that closes every socket 1001 before uvicorn's own (which would say 1012)."""

import argparse
import logging
import socket

import uvicorn
from switchboard_edge.http_guard import server_options

from .app import create_app
from .asgi import SocketFastPath
from .hub import Hub
from .lean_ws import PROTOCOL_LOGGER, LeanSansIOProtocol, match_edge_limits
from .settings import GatewaySettings


class GatewayServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, hub: Hub) -> None:
        super().__init__(config)
        self.hub = hub

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        await self.hub.live.shutdown()
        await super().shutdown(sockets)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Switchboard WebSocket gateway")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    # httpx logs each call to the session service at INFO (one line per connect, which the
    # session service's access log already has): a few % of the CPU of a reconnect storm
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.root.level))
    logging.getLogger(PROTOCOL_LOGGER).setLevel(max(logging.WARNING, logging.root.level))
    settings = GatewaySettings()
    match_edge_limits(settings, settings.ws_impl)
    app = create_app(settings)
    config = uvicorn.Config(
        SocketFastPath(app),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        ws=LeanSansIOProtocol if settings.ws_impl == "websockets-sansio" else settings.ws_impl,
        ws_per_message_deflate=settings.ws_compression,
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.heartbeat_s,
        ws_ping_timeout=settings.heartbeat_s,
        timeout_graceful_shutdown=15,
        **server_options(settings),
    )
    GatewayServer(config, app.state.hub).run()


if __name__ == "__main__":
    main()
