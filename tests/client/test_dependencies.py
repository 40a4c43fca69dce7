"""The SDK needs only the protocol models, httpx and websockets: no broker client, no JWT."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_sdk_declares_the_protocol_and_no_broker_or_jwt() -> None:
    project = tomllib.loads((ROOT / "libs/client/pyproject.toml").read_text())["project"]
    assert "switchboard-protocol" in project["dependencies"]
    names = " ".join(project["dependencies"]).lower()
    assert "switchboard-events" not in names and "aio-pika" not in names and "jwt" not in names


def test_importing_the_sdk_loads_no_broker_or_jwt_module() -> None:
    probe = (
        "import sys, switchboard_client, switchboard_client.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'aio_pika', 'aiormq', 'jwt', 'switchboard_events'})\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""
