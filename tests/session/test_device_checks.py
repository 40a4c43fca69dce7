"""`POST /internal/device-checks`, the gateway's batch of device checks: every device gets what
its own `POST /ai/sessions/{id}/devices` answers, and one device's refusal changes nothing for
the others."""

import time

import httpx
import jwt
import pytest

from tests.session.conftest import AUTH, AppFactory, auth, fetch, token

pytestmark = [pytest.mark.db, pytest.mark.broker]

BATCH = "/internal/device-checks"


async def _session(client: httpx.AsyncClient, user: str = "alice") -> str:
    answer = await client.post("/ai/sessions", json={}, headers=auth(user))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def _batch(client: httpx.AsyncClient, devices: list[tuple[str, str, str]]) -> list[tuple]:
    body = {"devices": [{"token": t, "session_id": s, "client_id": c} for t, s, c in devices]}
    headers = {"Authorization": f"Bearer {devices[0][0]}"}
    answer = await client.post(BATCH, json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return [(r["status"], r["body"]) for r in answer.json()["results"]]


async def _one_by_one(client: httpx.AsyncClient, devices: list[tuple[str, str, str]]) -> list:
    answers = []
    for tok, sid, cid in devices:
        answer = await client.post(
            f"/ai/sessions/{sid}/devices",
            json={"client_id": cid},
            headers={"Authorization": f"Bearer {tok}"},
        )
        answers.append((answer.status_code, answer.json()))
    return answers


async def test_each_device_gets_what_its_own_call_answers(
    client: httpx.AsyncClient, database_url: str
) -> None:
    alice = token("alice")
    sid, ended = await _session(client), await _session(client)
    assert (await client.delete(f"/ai/sessions/{ended}", headers=auth("alice"))).status_code == 204
    devices = [
        (alice, sid, "phone"),  # new: registered
        (alice, sid, "default"),  # known
        (token("bob"), sid, "phone"),  # someone else's session
        (alice, "01NOSUCHSESSION", "tab"),
        (alice, "not.a.name", "tab"),
        ("not-a-token", sid, "tab"),
        (alice, ended, "tab"),
    ]
    batch = await _batch(client, devices)
    assert [status for status, _ in batch] == [200, 200, 404, 404, 404, 401, 200]
    assert batch[0][1] == {
        "status": "active", "mode": "text", "agent_type": "personal", "active_run_id": None,
    }  # fmt: skip
    assert batch[6][1]["status"] == "ended"
    assert batch == await _one_by_one(client, devices)  # "phone" is known by now: same answer
    audited = await fetch(database_url, "SELECT action FROM audit_log")
    # the batch's refusal is written; the single one after it, from the same source within
    # AUDIT_REFUSED_WINDOW_S, is only counted (refusals.py)
    assert [row["action"] for row in audited].count("auth.failed") == 1


async def test_a_device_over_the_cap_is_refused_alone(make_app: AppFactory) -> None:
    client = await make_app(MAX_DEVICES_PER_SESSION=2)  # the creating device and one more
    alice = token("alice")
    full, other = await _session(client), await _session(client)
    batch = await _batch(
        client, [(alice, full, "tab-1"), (alice, full, "tab-2"), (alice, other, "tab-1")]
    )
    assert [status for status, _ in batch] == [200, 429, 200]
    assert batch[1][1]["error"]["code"] == "too_many_devices"
    again = await _one_by_one(client, [(alice, full, "tab-1"), (alice, full, "tab-2")])
    assert [status for status, _ in again] == [200, 429]  # tab-1 was kept, tab-2 was not


def _long_token(user: str) -> str:
    """A token the size of an identity provider's RS256 one with a few claims (~900 chars)."""
    claims = {"sub": user, "exp": int(time.time()) + 600, "scope": "chat " * 120}
    return jwt.encode(claims, AUTH.jwt_secret.get_secret_value(), algorithm="HS256")


async def test_a_full_batch_of_long_tokens_and_one_session_twice_over_its_cap(
    make_app: AppFactory,
) -> None:
    client = await make_app(MAX_DEVICES_PER_SESSION=2)  # the creating device and one more
    sid = await _session(client)
    alice = _long_token("alice")
    devices = [(alice, sid, "tab-a"), (alice, sid, "tab-b")]
    devices += [(alice, "01NOSUCHSESSION", f"d{n}") for n in range(126)]
    assert len(alice) > 800 and len(alice) * len(devices) > 64 * 1024  # past MAX_JSON_BODY_BYTES
    batch = await _batch(client, devices)
    assert [status for status, _ in batch[:2]] == [200, 429]
    assert batch[1][1]["error"]["code"] == "too_many_devices"
    assert {status for status, _ in batch[2:]} == {404}


async def test_bad_batches_are_refused_whole(client: httpx.AsyncClient) -> None:
    alice = {"Authorization": f"Bearer {token('alice')}"}
    empty = await client.post(BATCH, json={"devices": []}, headers=alice)
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "validation_error"
    device = {"token": token("alice"), "session_id": "s", "client_id": "d"}
    too_many = await client.post(BATCH, json={"devices": [device] * 257}, headers=alice)
    assert too_many.status_code == 422
    bad_client = await client.post(
        BATCH, json={"devices": [{**device, "client_id": "no spaces"}]}, headers=alice
    )
    assert bad_client.status_code == 422
    anonymous = await client.post(BATCH, json={"devices": [device]})
    assert anonymous.status_code == 401  # as on every route with a body


async def test_the_batch_route_is_not_in_the_public_openapi(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert BATCH not in paths and "/ai/sessions/{session_id}/devices" in paths


async def test_a_batch_counts_its_connects_with_its_read_and_audits_its_refusals_once(
    make_app: AppFactory, database_url: str
) -> None:
    """The budgets' count and the sessions' read share one transaction: a device asked about
    three times in one batch, within a budget of two, is let in twice and refused once (one
    audited refusal); the count stays committed, so the next batch refuses it at once."""
    client = await make_app(RATE_LIMIT_DEVICE_CONNECTS_PER_MIN=2)
    alice = token("alice")
    sid = await _session(client)
    batch = await _batch(client, [(alice, sid, "default")] * 3 + [(alice, sid, "tab")])
    assert [status for status, _ in batch] == [200, 200, 429, 200]
    assert batch[2][1]["error"]["code"] == "connect_rate_limited"
    assert batch[0][1] == batch[1][1] == {
        "status": "active", "mode": "text", "agent_type": "personal", "active_run_id": None,
    }  # fmt: skip
    again = await _batch(client, [(alice, sid, "default"), (alice, sid, "tab")])
    assert [status for status, _ in again] == [429, 200]
    audited = await fetch(database_url, "SELECT action FROM audit_log")
    assert [row["action"] for row in audited].count("rate_limited") == 1  # the window's first
