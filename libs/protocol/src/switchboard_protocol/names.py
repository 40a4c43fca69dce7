"""The id and name rule: session, client, run, call ids and agent/tool names all match it.

They become parts of queue names and routing keys, so no dots, wildcards or slashes.
"""

import re
from typing import Annotated

from pydantic import StringConstraints

NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
"""The rule, as a JSON Schema / pydantic pattern."""
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""The rule, compiled (use `fullmatch`)."""
NAME_RULE = "[A-Za-z0-9_-]{1,64}"
"""The rule, in words for error messages."""

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
"""A string field that follows the rule."""


class InvalidName(ValueError):
    """A session or client id that cannot be part of a queue name or routing key."""


def is_name(value: object) -> bool:
    return isinstance(value, str) and NAME_RE.fullmatch(value) is not None


def check_name(value: str, what: str = "id") -> str:
    """`value` if it is `[A-Za-z0-9_-]{1,64}`, else InvalidName (no dots, wildcards, slashes)."""
    if not NAME_RE.fullmatch(value):
        raise InvalidName(f"{what} must match {NAME_RULE}")
    return value
