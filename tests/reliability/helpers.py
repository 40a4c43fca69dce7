"""REST calls through the gateway, extra gateway processes, and run checks for the scenarios."""

from typing import Any

import httpx
from switchboard_edge.auth import AuthSettings, issue_dev_token
from switchboard_stack import ServiceProcess, free_port

from tests.stack import Stack


def token(user: str = "alice", ttl_s: int = 3600, **auth: str) -> str:
    return issue_dev_token(user, AuthSettings(**auth), ttl_s=ttl_s)  # type: ignore[arg-type]


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


async def create_session(base: str, tok: str, **fields: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=15) as http:
        body = {"agent_type": "personal", "mode": "text", "metadata": {}, **fields}
        answer = await http.post("/ai/sessions", json=body, headers=bearer(tok))
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def send_message(base: str, tok: str, session_id: str, content: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=15) as http:
        answer = await http.post(
            f"/ai/sessions/{session_id}/message",
            json={"content": content, "metadata": {}},
            headers=bearer(tok),
        )
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


async def get_session(base: str, tok: str, session_id: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=15) as http:
        return await http.get(f"/ai/sessions/{session_id}", headers=bearer(tok))


async def start_gateway(stack: Stack, **env: str) -> tuple[ServiceProcess, str]:
    """Another gateway replica of `stack` (same broker prefix and session service)."""
    port = free_port()
    args = ["--host", "127.0.0.1", "--port", str(port)]
    proc = ServiceProcess("switchboard-gateway", args, {**stack.env, **env}).start()
    base = f"http://127.0.0.1:{port}"
    stack.processes[f"gateway-{port}"] = proc
    await proc.wait_http(f"{base}/ai/health", 60)
    return proc, base


def check_run(events: list[dict[str, Any]], tokens: int) -> dict[str, int]:
    """Assert one complete `/tokens N` run, in order; its published/delivered/lost figures."""
    seqs = [e["seq"] for e in events]
    duplicated = len(seqs) - len(set(seqs))
    assert seqs == sorted(seqs), f"events out of order: {_inversion(events)}"
    assert duplicated == 0, "a seq delivered twice under different ids"
    published = max(seqs)
    words = [e["data"]["token"] for e in events if e["type"] == "token"]
    assert words == [f"t{i} " for i in range(1, tokens + 1)], "token stream has holes"
    assert events[-1]["type"] == "run_end", events[-1]
    lost = published - len(events)
    return {
        "published": published,
        "delivered": len(events),
        "lost": lost,
        "duplicated": duplicated,
    }


def _inversion(events: list[dict[str, Any]]) -> str:
    """The first place where `seq` goes back, with its neighbours (seq@connection)."""
    at = next(i for i in range(1, len(events)) if events[i]["seq"] < events[i - 1]["seq"])
    near = events[max(0, at - 8) : at + 8]
    return " ".join(f"{e['seq']}@{e.get('_via', '?')}{e['type'][0]}" for e in near)
