"""Hostile tokens against the gateway's REST (proxied) and WebSocket: each refused with the
right status and close code; RS256 with a public key works, HS256 forged with it does not."""

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from switchboard_events import BrokerSettings

from tests.security.conftest import AUDIENCE, SECURE_ENV, isolated_stack
from tests.security.tokens import claims, good, hostile, sign_hs256
from tests.security.wsclient import close_code_of, rest, ws_base
from tests.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(120)]

Secure = tuple[Stack, BrokerSettings]


async def _session(stack: Stack, token: str) -> str:
    answer = await rest(stack.url, "POST", "/ai/sessions", token, json={"agent_type": "personal"})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def test_valid_token_is_accepted(secure: Secure) -> None:
    stack, _ = secure
    sid = await _session(stack, good())
    assert (await rest(stack.url, "GET", f"/ai/sessions/{sid}", good())).status_code == 200
    assert await close_code_of(f"{ws_base(stack.url)}/ai/ws/{sid}", good()) is None


@pytest.mark.parametrize("case", sorted(hostile()))
async def test_hostile_token_is_refused(secure: Secure, case: str) -> None:
    stack, _ = secure
    sid = await _session(stack, good())
    token, status, code = hostile()[case]
    answer = await rest(stack.url, "GET", f"/ai/sessions/{sid}", token)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json()
    assert await close_code_of(f"{ws_base(stack.url)}/ai/ws/{sid}", token) == code
    header = {"Authorization": f"Bearer {token}"}
    assert await _ws_with_header(stack, sid, header) == code


async def _ws_with_header(stack: Stack, sid: str, header: dict[str, str]) -> int | None:
    import websockets

    async with websockets.connect(
        f"{ws_base(stack.url)}/ai/ws/{sid}", additional_headers=header, open_timeout=10
    ) as ws:
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed:
            return ws.close_code


async def test_no_auth_frame_is_closed_4401(secure: Secure) -> None:
    stack, _ = secure
    sid = await _session(stack, good())
    assert await close_code_of(f"{ws_base(stack.url)}/ai/ws/{sid}", None) == 4401


def _rsa_keys() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


async def test_rs256_public_key_and_forged_hs256(postgres_admin_url: str, amqp_url: str) -> None:
    private, public = _rsa_keys()
    env = {**SECURE_ENV, "JWT_ALGORITHM": "RS256", "JWT_PUBLIC_KEY": public}
    async with isolated_stack(postgres_admin_url, amqp_url, env) as (stack, _):
        token = jwt.encode(claims(), private, algorithm="RS256")
        sid = await _session(stack, token)
        assert (await rest(stack.url, "GET", f"/ai/sessions/{sid}", token)).status_code == 200
        assert await close_code_of(f"{ws_base(stack.url)}/ai/ws/{sid}", token) is None

        forged = sign_hs256(claims(), public.encode())
        assert (await rest(stack.url, "GET", f"/ai/sessions/{sid}", forged)).status_code == 401
        assert await close_code_of(f"{ws_base(stack.url)}/ai/ws/{sid}", forged) == 4401
        wrong_key, _ = _rsa_keys()
        other = jwt.encode(claims(), wrong_key, algorithm="RS256")
        assert (await rest(stack.url, "GET", f"/ai/sessions/{sid}", other)).status_code == 401
        assert AUDIENCE
