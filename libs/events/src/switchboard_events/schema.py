"""Export the JSON Schema of every event: `python -m switchboard_events.schema [PATH]`."""

import json
import sys
from pathlib import Path
from typing import Any

from .models import EVENT_ADAPTER

DEFAULT_PATH = Path("docs/events.schema.json")


def event_schema() -> dict[str, Any]:
    schema = EVENT_ADAPTER.json_schema(by_alias=True)
    schema["title"] = "Switchboard event"
    return schema


def render() -> str:
    return json.dumps(event_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
