"""The harness's URL handling (SQLAlchemy's make_url): drivers, databases, redaction."""

from switchboard_stack import asyncpg_dsn, redact, to_asyncpg, with_database


def test_urls_are_rewritten_by_their_parts() -> None:
    url = "postgresql+asyncpg://postgres:pw@db.local:5433/switchboard"
    assert asyncpg_dsn(url) == "postgresql://postgres:pw@db.local:5433/switchboard"
    assert asyncpg_dsn(url, "postgres") == "postgresql://postgres:pw@db.local:5433/postgres"
    assert with_database(url, "sb_x") == "postgresql+asyncpg://postgres:pw@db.local:5433/sb_x"
    assert to_asyncpg("postgres://a:b@h/x") == "postgresql+asyncpg://a:b@h/x"
    assert to_asyncpg("postgresql://a@h:1/x") == "postgresql+asyncpg://a@h:1/x"


def test_redact_hides_the_password_only() -> None:
    assert redact("amqp://guest:secret@127.0.0.1:5672/") == "amqp://guest:***@127.0.0.1:5672/"
    assert redact("postgresql://postgres@h/x") == "postgresql://postgres@h/x"
    assert redact("not a url") == "not a url"
