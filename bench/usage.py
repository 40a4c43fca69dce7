"""CPU and memory of the processes under test (psutil), including the broker's beam.smp."""

from dataclasses import dataclass
from urllib.parse import urlsplit

import psutil


def find_broker(amqp_url: str) -> psutil.Process | None:
    """The local RabbitMQ node (Erlang VM) listening on `amqp_url`'s port, if it runs on this
    machine (other nodes may run beside it)."""
    port = urlsplit(amqp_url).port or 5672
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] not in ("beam.smp", "beam"):
            continue
        try:
            listening = proc.net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in listening):
            return proc
    return None


def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU time of one process (not its children: the bench process is the
    parent of every service it starts, which are measured each on their own), 0 once gone."""
    try:
        times = proc.cpu_times()
        return float(times.user + times.system)
    except psutil.Error:
        return 0.0


def rss_bytes(proc: psutil.Process) -> int:
    try:
        return int(proc.memory_info().rss)
    except psutil.Error:
        return 0


@dataclass
class CpuMeter:
    """CPU seconds each named process spent between `start()` and `stop()`."""

    procs: dict[str, list[psutil.Process]]

    def start(self) -> "CpuMeter":
        self._before = self._sample()
        return self

    def stop(self) -> dict[str, float]:
        after = self._sample()
        return {name: round(after[name] - self._before[name], 3) for name in after}

    def _sample(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) for p in group) for name, group in self.procs.items()}
