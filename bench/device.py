"""One benchmark device: a real WebSocket client that authenticates, reads events and acks.

Latency is measured from the event's scheduled publish time (`metadata.t`, epoch seconds) or,
without it, from its `timestamp`, to the moment the frame is read here.
"""

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from websockets.asyncio.client import ClientConnection, connect

from .histogram import Histogram


@dataclass
class Tally:
    """What the devices of one client process received."""

    latency: Histogram = field(default_factory=Histogram)
    events: int = 0
    duplicates: int = 0
    seqs: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    """(device, run_id) -> the seqs that device received."""
    tokens: dict[tuple[str, str], int] = field(default_factory=dict)
    """(device, run_id) -> distinct token events received."""
    closes: dict[str, int] = field(default_factory=dict)
    first_at: float = 0.0
    last_at: float = 0.0

    def reset(self) -> None:
        """Start a new round (readers keep writing into this same object)."""
        self.latency, self.events, self.duplicates = Histogram(), 0, 0
        self.seqs, self.tokens, self.first_at, self.last_at = {}, {}, 0.0, 0.0


@dataclass(frozen=True)
class DeviceSpec:
    base_ws: str
    session_id: str
    client_id: str
    token: str

    @property
    def key(self) -> str:
        return f"{self.session_id}/{self.client_id}"

    def url(self) -> str:
        return f"{self.base_ws}/ai/ws/{self.session_id}?client_id={self.client_id}&ack=client"


async def open_device(spec: DeviceSpec, timeout: float = 30.0) -> tuple[ClientConnection, int]:
    """Connect, authenticate and wait for the hello; returns the socket and its ack window."""
    ws = await connect(
        spec.url(), compression=None, open_timeout=timeout, max_size=2**22, ping_interval=None
    )
    try:
        await ws.send(orjson.dumps({"type": "auth", "token": spec.token}).decode())
        hello = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
        if hello.get("type") != "connected":
            raise RuntimeError(f"{spec.key}: expected hello, got {hello}")
        return ws, int(hello.get("ack_window", 256))
    except BaseException:
        await ws.close()
        raise


def _sent_at(event: dict[str, object]) -> float:
    meta = event.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("t"), float | int):
        return float(meta["t"])
    return datetime.fromisoformat(str(event["timestamp"])).timestamp()


async def read_events(ws: ClientConnection, spec: DeviceSpec, window: int, tally: Tally) -> None:
    """Record every event until the socket closes. Acks as docs/protocol.md says: the latest
    event every half window, and at the end of each run (so nothing of it stays unacked)."""
    half = max(1, window // 2)
    unacked = 0
    try:
        async for frame in ws:
            now = time.time()
            event = orjson.loads(frame)
            if "id" not in event:
                continue  # control frames (pong, errors) are not events
            _record(event, spec, now, tally)
            unacked += 1
            if unacked >= half or event.get("type") == "run_end":
                await ws.send(b'{"type":"ack","id":"%s"}' % event["id"].encode(), text=True)
                unacked = 0
    except Exception:
        pass
    code = ws.close_code
    if code is not None and code != 1000:
        tally.closes[str(code)] = tally.closes.get(str(code), 0) + 1


def _record(event: dict[str, object], spec: DeviceSpec, now: float, tally: Tally) -> None:
    tally.events += 1
    tally.last_at = now
    if not tally.first_at:
        tally.first_at = now
    run_id, seq = event.get("run_id"), event.get("seq")
    if isinstance(run_id, str) and isinstance(seq, int):
        seen = tally.seqs.setdefault((spec.key, run_id), set())
        if seq in seen:
            tally.duplicates += 1
            return
        seen.add(seq)
    if event.get("type") == "token":
        tally.latency.record(now - _sent_at(event))
        if isinstance(run_id, str):
            key = (spec.key, run_id)
            tally.tokens[key] = tally.tokens.get(key, 0) + 1
