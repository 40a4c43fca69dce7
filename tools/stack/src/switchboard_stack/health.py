"""Whether a service answers its health URL (plain HTTP/1.0: no client library needed)."""

import asyncio
from urllib.parse import urlsplit


async def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether GET `url` answers 200."""
    parts = urlsplit(url)
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
            try:
                request = f"GET {parts.path or '/'} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n"
                writer.write(request.encode())
                status = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return False
    return status.split(b" ")[1:2] == [b"200"]
