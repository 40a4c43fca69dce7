"""docs/protocol.md's AG-UI section names what the code does: every error code the AG-UI
routes answer with, every Switchboard event type passed on as `CUSTOM`, and the default device."""

import re
from pathlib import Path

from switchboard_gateway.agui.mapping import CUSTOM_TYPES
from switchboard_gateway.agui.routes import DEFAULT_DEVICE

ROOT = Path(__file__).parents[2]
AGUI = ROOT / "services" / "gateway" / "src" / "switchboard_gateway" / "agui"
SECTION = (ROOT / "docs" / "protocol.md").read_text().split("\n## AG-UI", 1)[1].split("\n## ", 1)[0]


def test_every_error_code_the_routes_answer_is_documented() -> None:
    source = "".join(path.read_text() for path in AGUI.glob("*.py"))
    codes = set(re.findall(r'AguiRefused\(\s*\d+,\s*"([a-z_]+)"', source))
    assert codes, "no AguiRefused found"
    missing = sorted(code for code in codes if f"`{code}`" not in SECTION)
    assert not missing, f"docs/protocol.md (AG-UI) does not name {missing}"


def test_every_custom_event_type_and_the_default_device_are_documented() -> None:
    missing = sorted(kind for kind in CUSTOM_TYPES if f"`{kind}`" not in SECTION)
    assert not missing, f"docs/protocol.md (AG-UI) does not name {missing}"
    assert f"default `{DEFAULT_DEVICE}`" in SECTION
