"""The two halves of every wire model: written strictly, read leniently.

Models forbid unknown fields, so a writer (a constructor, `make_event`, `model_validate`) never
puts a typo on the wire. A reader goes through `read` / `read_json` (or `parse_event`), which
ignore fields this version does not know, in the message and every part of it: an older
process keeps working when a newer one adds a field.
"""

import json
from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """A message or a part of one."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        use_attribute_docstrings=True,
        json_schema_serialization_defaults_required=True,
    )

    @classmethod
    def read(cls, data: Any) -> Self:
        """`data` (parsed JSON) as this message, ignoring unknown fields."""
        return cls.model_validate(data, extra="ignore")

    @classmethod
    def read_json(cls, raw: str | bytes) -> Self:
        """`raw` JSON as this message, ignoring unknown fields."""
        return cls.model_validate_json(raw, extra="ignore")


def dumps(message: BaseModel) -> str:
    """`message` as JSON text, byte for byte as the services wrote it before the models
    (json.dumps: `", "` and `": "` separators, non-ASCII escaped; unset optionals left out)."""
    return json.dumps(message.model_dump(mode="json", by_alias=True))
