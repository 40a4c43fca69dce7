"""Database and broker URLs, parsed and rewritten with SQLAlchemy's `make_url` (never by hand)."""

from sqlalchemy.engine import URL, make_url


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def to_asyncpg(url: str) -> str:
    """The SQLAlchemy URL of `url` with the asyncpg driver (what the session service expects)."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        return url
    return _render(parsed.set(drivername="postgresql+asyncpg"))


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` on the same server."""
    return _render(make_url(url).set(database=name))


def database_name(url: str) -> str:
    return make_url(url).database or "postgres"


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    """The plain `postgresql://` DSN asyncpg connects with, optionally for another database."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return _render(parsed)


def redact(url: str) -> str:
    """`url` without its password (for messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given
        return url
