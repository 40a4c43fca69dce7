"""Raw HTTP/1.1 over TCP for hostile-input tests (what no well-behaved client would send), and
what a service process holds (/proc)."""

import asyncio
import os
from dataclasses import dataclass

CHUNK = 1024 * 1024


@dataclass
class Outcome:
    status: int | None
    """The status the server answered, or None when it closed without answering."""
    sent: int
    """Bytes of body (or head) written before the server answered or closed."""
    reply: bytes


async def flood(
    port: int,
    head: bytes,
    total: int,
    chunked: bool = False,
    timeout: float = 60,
) -> Outcome:
    """Send `head`, then up to `total` bytes in 1 MiB writes (HTTP chunks when `chunked`),
    stopping as soon as the server answers or closes. Bounded by `timeout`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    reply = asyncio.create_task(reader.read())  # every refusal closes the connection
    sent = 0
    try:
        async with asyncio.timeout(timeout):
            writer.write(head)
            while sent < total and not reply.done():
                writer.write(_framed(CHUNK, chunked))
                drained = asyncio.ensure_future(writer.drain())
                await asyncio.wait({drained, reply}, return_when=asyncio.FIRST_COMPLETED)
                if not drained.done():
                    drained.cancel()
                elif drained.exception() is not None:
                    break
                sent += CHUNK
            data = await reply
    except (ConnectionError, OSError):
        data = await reply if reply.done() and not reply.exception() else b""
    finally:
        reply.cancel()
        writer.close()
    return Outcome(_status(data), sent, data)


def _framed(size: int, chunked: bool) -> bytes:
    body = b"x" * size
    return b"%x\r\n%s\r\n" % (size, body) if chunked else body


def _status(data: bytes) -> int | None:
    parts = data.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def request_head(method: str, path: str, token: str | None = None, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
