"""docs/protocol.schema.json and docs/asyncapi.yaml are what `make schema` writes now."""

import subprocess
import sys
from pathlib import Path

import yaml

from scripts.protocol_docs import ASYNCAPI_FILE, SCHEMA_FILE

ROOT = Path(__file__).parents[2]


def test_generated_docs_are_current(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "scripts.protocol_docs", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    for name in (SCHEMA_FILE, ASYNCAPI_FILE):
        fresh = (tmp_path / name).read_text()
        assert (ROOT / "docs" / name).read_text() == fresh, f"run `make schema`: {name} is stale"


def test_asyncapi_points_at_existing_schema_defs() -> None:
    doc = yaml.safe_load((ROOT / "docs" / ASYNCAPI_FILE).read_text())
    schema = (ROOT / "docs" / SCHEMA_FILE).read_text()
    assert doc["asyncapi"].startswith("3.")
    for message in doc["components"]["messages"].values():
        file, pointer = message["payload"]["$ref"].split("#")
        assert file == SCHEMA_FILE and f'"{pointer.rsplit("/", 1)[1]}": {{' in schema
    for name, operation in doc["operations"].items():
        channel = operation["channel"]["$ref"].rsplit("/", 1)[1]
        for ref in operation["messages"]:
            assert ref["$ref"].split("/")[-1] in doc["channels"][channel]["messages"], name
