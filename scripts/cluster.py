"""A three-node RabbitMQ cluster on this machine, beside (never touching) its default node.

`python -m scripts.cluster up|down|status` (`make cluster-up` / `make cluster-down`); the cluster
tests start their own with `Cluster(...)`. Each node `sb<i>@localhost` has its own AMQP port
(`base_port + i`), distribution port (`RABBITMQ_DIST_PORT`, `base_port + 20000 + i`), data and
log directories, config file, env file (so /etc/rabbitmq/rabbitmq-env.conf and its NODENAME
are not read) and an empty plugin list (no management listener). All three share one Erlang
cookie: HOME points at the cluster directory, which holds `.erlang.cookie`, for the servers and
for every `rabbitmqctl` call, so the machine's default cookie is neither read nor changed.
Stdlib only, so `make cluster-up` needs nothing installed.
"""

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SBIN = Path("/usr/lib/rabbitmq/bin")
DEFAULT_DIR = Path(__file__).resolve().parent.parent / ".cluster"
DEFAULT_BASE_PORT = 5680


@dataclass(frozen=True)
class Node:
    index: int
    name: str
    amqp_port: int
    dist_port: int
    home: Path

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.short}.pid"

    @property
    def short(self) -> str:
        return self.name.split("@")[0]


class Cluster:
    """Nodes `sb1..sbN` under `directory`; `up()` starts and joins them, `down()` removes all."""

    def __init__(
        self,
        directory: Path = DEFAULT_DIR,
        size: int = 3,
        base_port: int = DEFAULT_BASE_PORT,
        prefix: str = "sb",
    ) -> None:
        """`prefix` names the nodes (`<prefix><i>@localhost`): two clusters on one machine
        need different prefixes as well as different ports."""
        self.directory = directory
        self.nodes = [
            Node(i, f"{prefix}{i}@localhost", base_port + i, base_port + 20000 + i, directory)
            for i in range(1, size + 1)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def env(self, node: Node) -> dict[str, str]:
        base = self.directory / node.short
        return {
            **os.environ,
            "HOME": str(self.directory),
            "RABBITMQ_NODENAME": node.name,
            "RABBITMQ_NODE_PORT": str(node.amqp_port),
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_PID_FILE": str(node.pid_file),
        }

    # --- lifecycle -------------------------------------------------------------------------

    def up(self, timeout: float = 120.0) -> None:
        """Write the files, start every node, join sb2.. to sb1, wait until all run. Data left
        by an earlier cluster whose nodes are gone is removed first."""
        if any(self.pid(node) is not None for node in self.nodes):
            raise RuntimeError(f"a cluster already runs from {self.directory}: bring it down first")
        shutil.rmtree(self.directory, ignore_errors=True)
        self._prepare()
        for node in self.nodes:
            self.start_node(node)
        for node in self.nodes:
            self.await_node(node, timeout)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.name)
            self.ctl(node, "start_app", timeout=timeout)
        self.wait_running(timeout)

    def down(self) -> None:
        """Stop every node (killing what does not stop) and delete the cluster directory."""
        for node in self.nodes:
            if self.pid(node) is not None:
                try:
                    self.ctl(node, "stop", timeout=60)
                except (subprocess.SubprocessError, OSError):
                    self.kill(node)
        for node in self.nodes:
            self._wait_gone(node, 30)
        shutil.rmtree(self.directory, ignore_errors=True)

    def start_node(self, node: Node) -> None:
        log = (self.directory / node.short / "log").resolve()
        log.mkdir(parents=True, exist_ok=True)
        with open(log / "startup.log", "ab") as out:
            subprocess.run(
                [str(SBIN / "rabbitmq-server"), "-detached"],
                env=self.env(node),
                cwd=self._cwd(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=True,
                timeout=60,
            )

    def await_node(self, node: Node, timeout: float = 120.0) -> None:
        """Until the node has booted (`await_startup` fails while a just-started node has not
        registered its name yet, so it is asked again)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ctl(node, "await_startup", timeout=max(deadline - time.monotonic(), 1))
                return
            except subprocess.SubprocessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def kill(self, node: Node) -> None:
        """SIGKILL the node's Erlang VM (no goodbye to its peers or clients)."""
        pid = self.pid(node)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_gone(node, 30)

    def stop_app(self, node: Node) -> None:
        self.ctl(node, "stop_app", timeout=60)

    def start_app(self, node: Node, timeout: float = 120.0) -> None:
        self.ctl(node, "start_app", timeout=timeout)

    def stop_node(self, node: Node) -> None:
        self.ctl(node, "stop", timeout=60)
        self._wait_gone(node, 30)

    # --- queries ---------------------------------------------------------------------------

    def ctl(self, node: Node, *args: str, timeout: float = 60.0) -> str:
        """`rabbitmqctl -n <node> args...` with the cluster's cookie; its stdout."""
        done = subprocess.run(
            [str(SBIN / "rabbitmqctl"), "-n", node.name, *args],
            env=self.env(node),
            cwd=self._cwd(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise subprocess.CalledProcessError(
                done.returncode, done.args, done.stdout, done.stderr
            )
        return done.stdout

    def running_nodes(self, via: Node | None = None) -> list[str]:
        node = via or self.nodes[0]
        status = json.loads(self.ctl(node, "cluster_status", "--formatter", "json"))
        return sorted(status.get("running_nodes", []))

    def wait_running(self, timeout: float = 120.0, expected: int | None = None) -> None:
        """Until `expected` (default: all) nodes report running in the cluster status."""
        want = len(self.nodes) if expected is None else expected
        deadline = time.monotonic() + timeout
        while True:
            up = [n for n in self.nodes if self.pid(n) is not None]
            try:
                if up and len(self.running_nodes(up[0])) >= want:
                    return
            except (subprocess.SubprocessError, json.JSONDecodeError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"cluster not running with {want} nodes")
            time.sleep(0.5)

    def pid(self, node: Node) -> int | None:
        """The node's OS pid when it is alive, else None."""
        try:
            pid = int(node.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def node_named(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def node_on_port(self, port: int) -> Node:
        return next(node for node in self.nodes if node.amqp_port == port)

    # --- files -----------------------------------------------------------------------------

    def _prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        cookie = self.directory / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(16).upper())
            cookie.chmod(0o400)
        for node in self.nodes:
            base = self.directory / node.short
            base.mkdir(exist_ok=True)
            (base / "rabbitmq-env.conf").write_text("# this node's settings come from its env\n")
            (base / "enabled_plugins").write_text("[].\n")
            (base / "rabbitmq.conf").write_text(
                f"listeners.tcp.local = 127.0.0.1:{node.amqp_port}\n"
                "cluster_partition_handling = pause_minority\n"
                "log.console = false\n"
                "log.file.level = info\n"
            )

    def _cwd(self) -> Path | None:
        """Where the Erlang tools run, so a crash dump (erl_crash.dump) stays with the cluster."""
        return self.directory if self.directory.is_dir() else None

    def _wait_gone(self, node: Node, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.pid(node) is not None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node.name} did not exit")
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT)
    args = parser.parse_args(argv)
    cluster = Cluster(args.dir, base_port=args.base_port)
    if args.command == "up":
        cluster.up()
        print("AMQP_URL=" + ",".join(cluster.urls))
    elif args.command == "down":
        cluster.down()
    else:
        print(json.dumps(cluster.running_nodes()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
