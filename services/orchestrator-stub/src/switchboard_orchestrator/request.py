"""The ids of a run request (switchboard_protocol's `RunRequest`) that does not validate."""

import json
import re

from switchboard_protocol import NAME_RULE, is_name

_IDS = re.compile(
    rf'^\{{\s*"run_id"\s*:\s*"({NAME_RULE})"\s*,\s*"session_id"\s*:\s*"({NAME_RULE})"'.encode()
)


def readable_ids(body: bytes) -> tuple[str, str] | None:
    """`(session_id, run_id)` of a request that does not validate, when they can still be read:
    from its top level when it parses as JSON, else from its first bytes (the session service
    writes `run_id` and `session_id` first), so a request too deep to parse is still failed."""
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):
        found = _IDS.match(body[:512])
        return (found[2].decode(), found[1].decode()) if found else None
    if not isinstance(request, dict):
        return None
    session_id, run_id = request.get("session_id"), request.get("run_id")
    if is_name(session_id) and is_name(run_id):
        return str(session_id), str(run_id)
    return None
