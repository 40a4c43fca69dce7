"""The SDK's REST calls: shapes, error mapping, and the dev token helper."""

import pytest
from switchboard_client import Busy, NotFound, SwitchboardClient, Unauthorized

from tests.client.fake_gateway import FakeGateway

pytestmark = pytest.mark.timeout(30)


async def test_session_lifecycle_over_rest(gateway: FakeGateway) -> None:
    token = await SwitchboardClient.dev_token("alice", gateway.url)
    async with SwitchboardClient(gateway.url, token) as client:
        session = await client.create_session(agent_type="personal")
        listed = await client.list_sessions()
        assert [s["id"] for s in listed["items"]] == [session["id"]]
        accepted = await client.send_message(session["id"], "/sleep 5")
        assert set(accepted) == {"message_id", "run_id"}
        with pytest.raises(Busy) as busy:
            await client.send_message(session["id"], "again")
        assert busy.value.status == 409 and busy.value.code == "busy"
        assert await client.cancel(session["id"]) == accepted["run_id"]
        await client.delete_session(session["id"])
        assert (await client.get_session(session["id"]))["status"] == "ended"


async def test_errors_are_typed(gateway: FakeGateway) -> None:
    sid = gateway.new_session(user="bob")["id"]
    async with SwitchboardClient(gateway.url, gateway.token("alice")) as client:
        with pytest.raises(NotFound):
            await client.get_session(sid)
    async with SwitchboardClient(gateway.url, "not-a-token") as client:
        with pytest.raises(Unauthorized):
            await client.list_sessions()


async def test_a_401_is_retried_once_with_a_fresh_token(gateway: FakeGateway) -> None:
    tokens = iter(["expired-garbage", gateway.token()])
    async with SwitchboardClient(gateway.url, token_provider=lambda: next(tokens)) as client:
        assert (await client.create_session())["user_id"] == "alice"
