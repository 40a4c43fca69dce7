"""The run and tool workers check client JSON (`switchboard_edge.safe_json`) but no tokens:
their import graph has no PyJWT, whatever the edge package holds."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(60)

PROBE = """
import sys
import switchboard_orchestrator.worker_main
import switchboard_orchestrator.tools.main
print("jwt" in sys.modules)
"""


def test_the_workers_import_no_jwt() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=50, check=True
    )
    assert out.stdout.strip() == "False"


def test_the_probe_sees_jwt_where_it_is_imported() -> None:
    """The same probe on the gateway finds it: the check above can fail."""
    probe = PROBE.replace("switchboard_orchestrator.worker_main", "switchboard_gateway.app")
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=50, check=True
    )
    assert out.stdout.strip() == "True"
