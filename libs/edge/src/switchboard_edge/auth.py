"""JWT verification shared by the gateway and the session service.

HS256 with `JWT_SECRET` by default; RS256/ES256 when `JWT_PUBLIC_KEY` (PEM) is set. `sub` and
`exp` are required; `aud`/`iss` are checked when configured, and a token with an `aud` is
refused when no JWT_AUDIENCE is (it was issued for some other service). `sub` is the user id
in NFKC form; one with control or format characters (zero-width ones included) is refused, so
no two ids that look alike name two users. Dev tokens exist only in dev mode.
"""

import time
import unicodedata
from dataclasses import dataclass
from typing import ClassVar, Literal

import jwt
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .safe_json import UnsafeJson, check_text

DEFAULT_SECRET = "switchboard-dev-secret-change-me"
MAX_SUBJECT_CHARS = 255
"""Longest `sub` (user id) accepted: what the user_id columns hold."""


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    OPERATOR: ClassVar[frozenset[str]] = frozenset(
        {
            "SWITCHBOARD_ENV",
            "JWT_SECRET",
            "JWT_ALGORITHM",
            "JWT_PUBLIC_KEY",
            "JWT_AUDIENCE",
            "JWT_ISSUER",
        }
    )
    """The settings of this class an operator sets (docs/configuration.md lists them first)."""

    env: Literal["dev", "prod"] = Field(default="dev", alias="SWITCHBOARD_ENV")
    """`dev` enables `POST /ai/dev/token`; `prod` refuses the default JWT secret."""
    jwt_secret: SecretStr = Field(default=SecretStr(DEFAULT_SECRET), alias="JWT_SECRET")
    """HS256 signing secret (dev default; set your own in production)."""
    jwt_algorithm: Literal["HS256", "RS256", "ES256"] = Field(
        default="HS256", alias="JWT_ALGORITHM"
    )
    """`HS256` (JWT_SECRET) or `RS256`/`ES256` (JWT_PUBLIC_KEY)."""
    jwt_public_key: str | None = Field(default=None, alias="JWT_PUBLIC_KEY")
    """PEM public key for RS256/ES256 (the private key stays with the issuer)."""
    jwt_audience: str | None = Field(default=None, alias="JWT_AUDIENCE")
    """When set, tokens must carry this `aud` (else 403 / close 4403); when unset, a token
    with any `aud` is refused the same way (it was meant for another service)."""
    jwt_issuer: str | None = Field(default=None, alias="JWT_ISSUER")
    """When set, tokens must carry this `iss`."""
    dev_token_ttl_s: int = Field(default=24 * 3600, alias="DEV_TOKEN_TTL_S")
    """Lifetime of tokens from `POST /ai/dev/token`."""

    def check_production(self) -> None:
        """Refuse to run in production with the default secret."""
        if (
            self.env == "prod"
            and self.jwt_algorithm == "HS256"
            and self.jwt_secret.get_secret_value() == DEFAULT_SECRET
        ):
            raise RuntimeError("SWITCHBOARD_ENV=prod needs JWT_SECRET set to a secret of your own")


class AuthError(Exception):
    """A token that is not accepted; `reason` is `unauthenticated` or `forbidden`."""

    def __init__(self, reason: Literal["unauthenticated", "forbidden"], message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Claims:
    user_id: str
    expires_at: float


def verify_token(token: str, settings: AuthSettings) -> Claims:
    """The token's user and expiry, or AuthError (expired, bad signature, wrong audience...)."""
    key = settings.jwt_public_key if settings.jwt_algorithm != "HS256" else None
    try:
        claims = jwt.decode(
            token,
            key or settings.jwt_secret.get_secret_value(),
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "exp"]},  # `aud` checked always: refused when unset
        )
    except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as exc:
        raise AuthError("forbidden", f"token not allowed here: {exc}") from exc
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("unauthenticated", "token expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthError("unauthenticated", f"invalid token: {exc}") from exc
    return Claims(user_id=_subject(claims.get("sub")), expires_at=float(claims["exp"]))


_INVISIBLE = frozenset({"Cc", "Cf"})
"""Unicode categories refused in a `sub`: control and format characters (zero-width space and
joiners, bidi marks, soft hyphen...), which make an id that looks like another."""


def _subject(sub: object) -> str:
    """The user id a `sub` names: NFKC-normalised (fullwidth `bob` is `bob`); AuthError when empty,
    too long, or holding NUL, a lone surrogate, a control or a format character."""
    if not isinstance(sub, str) or not sub:
        raise AuthError("unauthenticated", "token has no subject")
    try:
        check_text(sub, "sub")
    except UnsafeJson as exc:
        raise AuthError("unauthenticated", f"token subject: {exc.problem}") from exc
    if len(sub) > MAX_SUBJECT_CHARS:  # before the work of normalising it
        raise AuthError("unauthenticated", f"token subject longer than {MAX_SUBJECT_CHARS}")
    user = unicodedata.normalize("NFKC", sub)
    bad = next((c for c in user if unicodedata.category(c) in _INVISIBLE), None)
    if bad is not None:
        name = unicodedata.name(bad, "a control character")
        raise AuthError(
            "unauthenticated", f"token subject: U+{ord(bad):04X} ({name}) is not allowed"
        )
    if len(user) > MAX_SUBJECT_CHARS:
        raise AuthError("unauthenticated", f"token subject longer than {MAX_SUBJECT_CHARS}")
    return user


def issue_dev_token(user_id: str, settings: AuthSettings, ttl_s: int | None = None) -> str:
    """An HS256 token for `user_id` (dev mode and tests only)."""
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": user_id,
        "iat": now,
        "exp": now + (ttl_s or settings.dev_token_ttl_s),
    }
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")
