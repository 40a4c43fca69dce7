"""Hostile JWTs: each built by hand so no library refuses to make it."""

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from switchboard_edge.auth import DEFAULT_SECRET

from tests.security.conftest import AUDIENCE


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_hs256(claims: dict[str, Any], secret: bytes, alg: str = "HS256") -> str:
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def claims(user: str = "alice", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": user, "iat": now, "exp": now + 600, "aud": AUDIENCE, **extra}


def good(user: str = "alice") -> str:
    return jwt.encode(claims(user), DEFAULT_SECRET, algorithm="HS256")


def alg_none(user: str = "alice") -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims(user)).encode())}."


def hostile() -> dict[str, tuple[str, int, int]]:
    """name -> (token, REST status, WebSocket close code)."""
    now = int(time.time())
    no_sub = claims()
    del no_sub["sub"]
    no_aud = claims()
    del no_aud["aud"]
    return {
        "expired": (jwt.encode(claims(exp=now - 60), DEFAULT_SECRET), 401, 4401),
        "not_yet_valid": (jwt.encode(claims(nbf=now + 600), DEFAULT_SECRET), 401, 4401),
        "wrong_signature": (jwt.encode(claims(), "not-the-secret-" * 3), 401, 4401),
        "alg_none": (alg_none(), 401, 4401),
        "wrong_audience": (jwt.encode(claims(aud="elsewhere"), DEFAULT_SECRET), 403, 4403),
        "no_audience": (
            jwt.encode({k: v for k, v in claims().items() if k != "aud"}, DEFAULT_SECRET),
            401,
            4401,
        ),
        "missing_sub": (jwt.encode(no_sub, DEFAULT_SECRET), 401, 4401),
        "empty_sub": (jwt.encode(claims(user=""), DEFAULT_SECRET), 401, 4401),
        "garbage": ("not.a.jwt", 401, 4401),
        "other_user": (good("mallory"), 404, 4404),
    }
