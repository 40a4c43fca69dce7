"""REST requests in flight per caller (REST_REQUESTS_PER_USER): one user's reads cannot take
the upstream connections and memory the others need. Per process, like the frame limits: a
caller spread over N replicas gets N times the slots, each replica's share bounded."""

from starlette.requests import Request
from switchboard_edge.auth import AuthError, AuthSettings, verify_token


class RestSlots:
    def __init__(self, per_caller: int) -> None:
        self.per_caller = per_caller
        self._busy: dict[str, int] = {}

    def take(self, caller: str) -> bool:
        """A slot for `caller`; False when all of theirs are taken."""
        busy = self._busy.get(caller, 0)
        if busy >= self.per_caller:
            return False
        self._busy[caller] = busy + 1
        return True

    def give(self, caller: str) -> None:
        busy = self._busy.get(caller, 0) - 1
        if busy > 0:
            self._busy[caller] = busy
        else:
            self._busy.pop(caller, None)


def caller_of(request: Request, auth: AuthSettings) -> str:
    """Whose slots a request takes: its token's user, else its address."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        try:
            return "user:" + verify_token(token.strip(), auth).user_id
        except AuthError:
            pass
    return "addr:" + (request.client.host if request.client else "")
