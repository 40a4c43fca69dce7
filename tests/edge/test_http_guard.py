"""A refused connection lingers without resetting: past LINGER_BYTES it stops reading (the
client's writes block) and closes at LINGER_S. It used to close as soon as LINGER_BYTES had come,
which a client still sending a big body reaches in milliseconds: the kernel's reset then beat the
401 to a busy client (tests/security/test_edge_flood.py failed so on a loaded machine)."""

from types import SimpleNamespace

from switchboard_edge.http_guard import LINGER_BYTES, GuardedHttpProtocol

CHUNK = 1024 * 1024


class _Transport:
    def __init__(self) -> None:
        self.paused = False
        self.closed = False

    def pause_reading(self) -> None:
        self.paused = True

    def close(self) -> None:
        self.closed = True


def test_a_lingering_connection_stops_reading_past_its_bytes_but_does_not_close() -> None:
    protocol = GuardedHttpProtocol.__new__(GuardedHttpProtocol)  # only its lingering state
    real = _Transport()
    protocol.lingering = 0
    protocol.transport = SimpleNamespace(_transport=real)  # type: ignore[assignment]
    for _ in range(LINGER_BYTES // CHUNK):
        protocol.data_received(b"x" * CHUNK)
    assert not real.paused and not real.closed  # dropped while under the bound
    protocol.data_received(b"x" * CHUNK)
    assert real.paused, "past LINGER_BYTES the connection stops reading"
    assert not real.closed, "closing with unread data resets the connection: the timer closes it"
