"""A WebSocket client on a raw TCP socket, for upgrade requests no library would send: the
upgrade head as given, then the server's answer and frames as they come (server frames are
not masked; this client sends none)."""

import asyncio
import json
import struct
from typing import Any

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def upgrade_head(path: str, *lines: str) -> bytes:
    """An upgrade request for `path` with `lines` (`Name: value`) after the usual ones."""
    usual = [
        f"GET {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
    ]
    return ("\r\n".join([*usual, *lines]) + "\r\n\r\n").encode()


async def send_head(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def answer_status(reader: asyncio.StreamReader) -> int | None:
    """The status of the server's answer to the head (None: closed without one)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    return int(head.split(b" ", 2)[1])


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(opcode, payload) of the server's next frame."""
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", await reader.readexactly(2))
    elif size == 127:
        (size,) = struct.unpack("!Q", await reader.readexactly(8))
    return first & 0x0F, await reader.readexactly(size)


async def first_text(reader: asyncio.StreamReader) -> dict[str, Any] | int:
    """The first text frame, parsed, or the close code when a close frame comes first."""
    while True:
        opcode, payload = await read_frame(reader)
        if opcode == 0x1:
            return dict(json.loads(payload))
        if opcode == 0x8:
            return int(struct.unpack("!H", payload[:2])[0])
