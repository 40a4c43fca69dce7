"""The session service client: every call the gateway makes to it (a caller's, with their token
forwarded; a proxied REST request; the health and OpenAPI fetches) goes through `SessionService`,
which alone knows its URL."""

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from .checks import CheckFailed, CheckQueue, DeviceCheck
from .settings import GatewaySettings

log = logging.getLogger(__name__)

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
BATCH_PATH = "/internal/device-checks"
"""The session service's batch of device checks (each device's `POST .../devices` answer)."""
_ONE_BY_ONE = frozenset({401, 403, 404, 405, 413, 422})
"""Batch answers after which each device is asked on its own (see `_send_checks`)."""
MAX_CHECK_TOKEN_CHARS = 8192
"""The longest token the session service takes in a batch (its `DeviceCheck.token`)."""
_CLOSED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
"""How a kept-alive connection the server had already closed fails when it is reused."""


class UpstreamUnavailable(Exception):
    """The session service did not answer."""


async def request(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """`http.request`, sent once more when an idempotent request met a connection the server
    had closed (the pool hands out the next or a new connection for the second try)."""
    try:
        return await http.request(method, url, **kwargs)
    except _CLOSED as exc:
        if method.upper() not in IDEMPOTENT:
            raise
        log.info("upstream connection closed under %s %s (%r); retrying once", method, url, exc)
    return await http.request(method, url, **kwargs)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    retry_after: str | None = None
    """The answer's `Retry-After` header (a rate limit's)."""
    idle_at: tuple[int, int] | None = None
    """(shard, position): the session had no run in progress as of that offset of its shard
    stream (a batched device check's `idle_at`, read with the session): the catch-up answer,
    without asking."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> tuple[str, str]:
        """The upstream `{"error": {"code", "message"}}`, or a generic code."""
        err = self.body.get("error") if isinstance(self.body, dict) else None
        if isinstance(err, dict):
            return str(err.get("code", "upstream_error")), str(err.get("message", ""))
        return "upstream_error", f"session service answered {self.status}"


class SessionService:
    """The session service at `base_url`, over `http` (a pooled client the owner closes).

    Device checks (`open_device`, one per WebSocket connect) go over `checks`, a pool of their
    own, at most `check_slots` requests at once, the connects that come meanwhile waiting here
    and going together in the next request (checks.py): an httpx pool scans all its
    connections and queued requests on every request and release (a `poll` per idle
    connection), and the session service pays a request and a transaction per call, which made
    a reconnect storm spend most of both services' CPU on the checks. REST requests keep the
    large pool."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        checks: httpx.AsyncClient | None = None,
        check_slots: int = 2,
        check_timeout_s: float = 10.0,
    ) -> None:
        self._http = http
        self._checks = checks or http
        self._check_queue = CheckQueue(self._send_checks, check_slots)
        self._check_timeout_s = check_timeout_s
        self._base = base_url.rstrip("/")
        self._lookups: dict[tuple[str, str, str], asyncio.Future[Answer]] = {}

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> "SessionService":
        """Clients with their own connection pools (UPSTREAM_CONNECTIONS for REST,
        DEVICE_CHECK_CONNECTIONS for device checks; UPSTREAM_TIMEOUT_S); close with `aclose`."""
        slots = settings.device_check_connections
        return cls(
            _client(settings.upstream_timeout_s, settings.upstream_connections),
            settings.session_url,
            _client(settings.upstream_timeout_s, slots),
            slots,
            settings.upstream_timeout_s,
        )

    async def aclose(self) -> None:
        await self._check_queue.aclose()
        try:
            await self._http.aclose()
        finally:
            if self._checks is not self._http:
                await self._checks.aclose()

    def url(self, path: str) -> str:
        """The session service's URL of `path` (the one place it is assembled)."""
        return self._base + path

    async def healthy(self) -> bool:
        """Whether its `/ai/health` answers 200 within 3 s."""
        try:
            answer = await self._http.get(self.url("/ai/health"), timeout=3)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    async def openapi(self) -> Any:
        """Its OpenAPI document; raises httpx.HTTPError or ValueError when unavailable."""
        answer = await self._http.get(self.url("/openapi.json"))
        answer.raise_for_status()
        return answer.json()

    async def forward(
        self, method: str, raw_path: str, params: str, headers: dict[str, str], content: bytes
    ) -> httpx.Response:
        """A REST request passed on as is (sent once more on a closed kept-alive connection
        when idempotent): the answer's head, its body still to read (`aiter_raw`; the caller
        closes it with `aclose`); raises httpx.HTTPError when the service does not answer."""
        outgoing = self._http.build_request(
            method, self.url(raw_path), params=params, headers=headers, content=content
        )
        try:
            return await self._http.send(outgoing, stream=True)
        except _CLOSED as exc:
            if method.upper() not in IDEMPOTENT:
                raise
            log.info("upstream closed under %s %s (%r); retrying once", method, raw_path, exc)
        return await self._http.send(outgoing, stream=True)

    async def open_device(self, token: str, session_id: str, client_id: str) -> Answer:
        """May this token's owner connect this device? The session's status, mode, agent and
        active run (no history). Identical lookups in flight at the same moment (a reconnect
        storm) share one call; nothing is kept after the answer arrives."""
        key = (token, session_id, client_id)
        shared = self._lookups.get(key)
        if shared is not None:
            return await asyncio.shield(shared)
        lookup = asyncio.ensure_future(self._check(token, session_id, client_id))
        self._lookups[key] = lookup
        lookup.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(lookup)

    @property
    def checks_waiting(self) -> int:
        """Device checks queued behind the DEVICE_CHECK_CONNECTIONS requests in flight."""
        return self._check_queue.waiting

    async def _check(self, token: str, session_id: str, client_id: str) -> Answer:
        """This device's check, in the next batch to go: the wait and the call together within
        UPSTREAM_TIMEOUT_S."""
        try:
            async with asyncio.timeout(self._check_timeout_s):
                return await self._check_queue.check(DeviceCheck(token, session_id, client_id))
        except TimeoutError as exc:
            raise UpstreamUnavailable("the session service did not answer in time") from exc
        except CheckFailed as exc:
            raise UpstreamUnavailable(str(exc)) from exc

    async def _send_checks(self, checks: Sequence[DeviceCheck]) -> list[Answer | CheckFailed]:
        """One answer per check, from one batch request (each device with its own token; the
        first token authorises the request body). A session service without the batch route
        (404, an older release during a rolling upgrade) or that refused the batch (the first
        token expired on the way: 401, or 422 for the body it then did not read; 413) is asked
        device by device. A token too long for a batch is asked about alone."""
        batched = [c for c in checks if len(c.token) <= MAX_CHECK_TOKEN_CHARS]
        answers: dict[DeviceCheck, Answer | CheckFailed] = {}
        if batched:
            answers.update(zip(batched, await self._send_batch(batched), strict=True))
        alone = [c for c in checks if c not in answers]
        answers.update(zip(alone, await self._one_by_one(alone), strict=True))
        return [answers[check] for check in checks]

    async def _send_batch(self, checks: Sequence[DeviceCheck]) -> list[Answer | CheckFailed]:
        body = {"devices": [dataclasses.asdict(check) for check in checks]}
        try:
            batch = await self._call(
                "POST", BATCH_PATH, checks[0].token, json=body, http=self._checks
            )
        except UpstreamUnavailable as exc:
            raise CheckFailed(str(exc)) from exc
        if batch.status in _ONE_BY_ONE:
            return await self._one_by_one(checks)
        if batch.status != 200:
            return [batch] * len(checks)  # the batch's own error is every device's
        results = batch.body.get("results") if isinstance(batch.body, dict) else None
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise CheckFailed("the session service's device checks answer is malformed")
        return [
            Answer(int(r.get("status") or 502), r.get("body"), None, _idle_at(r)) for r in results
        ]

    async def _one_by_one(self, checks: Sequence[DeviceCheck]) -> list[Answer | CheckFailed]:
        """Each device's own call, one after another (this is one slot's work)."""
        answers: list[Answer | CheckFailed] = []
        for check in checks:
            path = f"/ai/sessions/{check.session_id}/devices"
            body = {"client_id": check.client_id}
            try:
                answers.append(
                    await self._call("POST", path, check.token, json=body, http=self._checks)
                )
            except UpstreamUnavailable as exc:
                answers.append(CheckFailed(str(exc)))
        return answers

    def _forget(self, key: tuple[str, str, str], done: "asyncio.Future[Answer]") -> None:
        self._lookups.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved here: its callers may all have been cancelled

    async def post_message(
        self, token: str, session_id: str, client_id: str, body: dict[str, Any]
    ) -> Answer:
        return await self._call(
            "POST", f"/ai/sessions/{session_id}/message", token, client_id, json=body
        )

    async def decide_tool(
        self, token: str, session_id: str, client_id: str, body: dict[str, Any]
    ) -> Answer:
        return await self._call(
            "POST", f"/ai/sessions/{session_id}/tool_decisions", token, client_id, json=body
        )

    async def session(self, token: str, session_id: str, messages_limit: int = 100) -> Answer:
        """`GET /ai/sessions/{id}`: the session, its newest messages and their runs."""
        path = f"/ai/sessions/{session_id}?messages_limit={messages_limit}"
        return await self._call("GET", path, token)

    async def run_text(self, token: str, session_id: str, run_id: str, offset: int) -> Answer:
        """`GET /ai/sessions/{id}/runs/{run_id}/text?offset=`: a piece of a run's text."""
        path = f"/ai/sessions/{session_id}/runs/{run_id}/text?offset={offset}"
        return await self._call("GET", path, token)

    async def cancel(self, token: str, session_id: str) -> Answer:
        return await self._call("POST", f"/ai/sessions/{session_id}/cancel", token)

    async def post_audio(self, token: str, session_id: str, client_id: str, wav: bytes) -> Answer:
        return await self._call(
            "POST",
            f"/ai/sessions/{session_id}/audio",
            token,
            client_id,
            content=wav,
            content_type="audio/wav",
        )

    async def _call(
        self,
        method: str,
        path: str,
        token: str,
        client_id: str | None = None,
        *,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> Answer:
        headers = {"Authorization": f"Bearer {token}"}
        if client_id:
            headers["X-Client-Id"] = client_id
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = await request(
                http or self._http,
                method,
                self.url(path),
                headers=headers,
                json=json,
                content=content,
            )
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"session service unreachable: {exc!r}") from exc
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return Answer(response.status_code, body, response.headers.get("retry-after"))


def _idle_at(result: dict[str, Any]) -> tuple[int, int] | None:
    """A device check result's `idle_at` as (shard, position); None when absent or malformed."""
    idle_at = result.get("idle_at")
    if not isinstance(idle_at, dict):
        return None
    shard, position = idle_at.get("shard"), idle_at.get("position")
    if type(shard) is not int or type(position) is not int:
        return None
    return shard, position


def _client(timeout: float, connections: int) -> httpx.AsyncClient:
    """A pooled client whose connections are all kept alive between calls."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(timeout=timeout, limits=limits)
