"""The service starts without its broker or database, answers 503 naming it, and recovers."""

import pytest
from switchboard_stack import ServiceProcess, broker_env, free_port

from tests.conftest import wait_until
from tests.proxy import proxy_to
from tests.session.conftest import AUTH, auth, make_settings, running

pytestmark = [pytest.mark.db, pytest.mark.broker]


@pytest.mark.timeout(90)
async def test_health_503_names_the_missing_part_then_recovers(
    database_url, broker_settings
) -> None:
    async with proxy_to(broker_settings.amqp_url) as proxy:
        proxy.down()
        broker = broker_settings.model_copy(
            update={"amqp_url": proxy.url_for(broker_settings.amqp_url)}
        )
        settings = make_settings(database_url, broker)
        async with running(settings, ready=False) as client:

            async def broker_down() -> bool:
                response = await client.get("/ai/health")
                return response.status_code == 503 and response.json()["checks"] == {
                    "database": "ok",
                    "broker": "down",
                }

            await wait_until(broker_down, timeout=30)
            refused = await client.post("/ai/sessions", json={}, headers=auth("alice"))
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "broker_unavailable"
            assert (await client.get("/ai/sessions", headers=auth("alice"))).json()["items"] == []
            proxy.up()

            async def healthy() -> bool:
                return (await client.get("/ai/health")).status_code == 200

            await wait_until(healthy, timeout=30)
            created = await client.post("/ai/sessions", json={}, headers=auth("alice"))
            assert created.status_code == 201


async def test_database_down_is_named(broker_settings) -> None:
    dead = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing"
    settings = make_settings(dead, broker_settings)
    async with running(settings, ready=False) as client:

        async def db_down() -> bool:
            response = await client.get("/ai/health")
            body = response.json()
            return (
                response.status_code == 503
                and body["checks"] == {"database": "down", "broker": "ok"}
                and "database" in body["error"]["message"]
            )

        await wait_until(db_down, timeout=30)


@pytest.mark.e2e
@pytest.mark.timeout(90)
async def test_console_script_serves(database_url, broker_settings) -> None:
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        **broker_env(broker_settings),
        "JWT_SECRET": AUTH.jwt_secret.get_secret_value(),
        "SWITCHBOARD_ENV": "dev",
    }
    proc = ServiceProcess("switchboard-session", ["--host", "127.0.0.1", "--port", str(port)], env)
    proc.start()
    try:
        await proc.wait_http(f"http://127.0.0.1:{port}/ai/health", timeout=60)
        import httpx

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            created = await client.post("/ai/sessions", json={}, headers=auth("alice"))
            assert created.status_code == 201
    finally:
        code = proc.stop()
        # uvicorn re-raises SIGTERM after a clean shutdown, so -15 is a graceful exit too
        assert code in (0, -15) and "Application shutdown complete" in proc.output(), proc.output()
