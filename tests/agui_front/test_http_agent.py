"""AG-UI's own client, `@ag-ui/client`'s HttpAgent (tests/agui_front/node, pinned), in Node against
the real stack behind a balancer: a run through `POST .../agui`; a stream dropped by a gateway
SIGKILL and resumed with Last-Event-ID on another replica, ending with the exact text; a second
agent joining mid-run with `GET .../agui` (the answer so far, then the rest)."""

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.client_ts.balancer import Balancer
from tests.client_ts.npm import ensure_installed, run_node
from tests.client_ts.test_stack import fail_over, spare_gateway
from tests.stack import Stack, isolated_stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(240)]

SCRIPTS = Path(__file__).parent / "node"


@pytest.fixture(scope="module")
async def lb(postgres_admin_url: str, amqp_url: str) -> AsyncIterator[tuple[Stack, Balancer]]:
    """A whole stack (shipped defaults) behind a balancer; the scripts know the balancer only."""
    ensure_installed(SCRIPTS, probe="@ag-ui/client")
    async with isolated_stack(postgres_admin_url, amqp_url, "agui") as stack:
        port = int(stack.url.rsplit(":", 1)[1])
        async with Balancer(port).serving() as balancer:
            yield stack, balancer


async def test_a_message_runs_through_post_from_run_started_to_run_finished(
    lb: tuple[Stack, Balancer],
) -> None:
    stack, balancer = lb
    code, output = await run_node(SCRIPTS / "run.mjs", "300", url=balancer.url)
    assert code == 0, f"{output}\n{stack.logs()}"
    assert json.loads(output.splitlines()[-1])["ok"]


async def test_a_stream_dropped_by_a_gateway_sigkill_resumes_with_the_exact_text(
    lb: tuple[Stack, Balancer],
) -> None:
    stack, balancer = lb
    spare = await spare_gateway(stack)
    killed: list[str] = []

    async def on_line(line: str) -> None:
        if line == "PROGRESS" and not killed:
            fail_over(stack, balancer, spare)
            killed.append(line)

    code, output = await run_node(
        SCRIPTS / "resume.mjs", "600", "100", url=balancer.url, on_line=on_line
    )
    assert code == 0 and killed, f"{output}\n{stack.logs()}"
    assert json.loads(output.splitlines()[-1])["drops"] >= 1
    assert balancer.connections.get(spare, 0) >= 1, "the stream resumed on the other replica"


async def test_a_second_agent_joining_mid_run_gets_the_answer_so_far_then_the_rest(
    lb: tuple[Stack, Balancer],
) -> None:
    stack, balancer = lb
    code, output = await run_node(SCRIPTS / "join.mjs", "500", "100", url=balancer.url)
    assert code == 0, f"{output}\n{stack.logs()}"
    summary = json.loads(output.splitlines()[-1])
    assert summary["soFar"] > 0 and summary["rest"] > 0, summary


def readme_example() -> str:
    """The README's AG-UI example (its ```js block), as is."""
    text = (Path(__file__).parents[2] / "README.md").read_text()
    match = re.search(r"## AG-UI front ends.*?```js\n(.*?)```", text, re.S)
    assert match, "no js block in the README's AG-UI section"
    return match.group(1)


async def test_the_readme_example_prints_the_run_s_text(lb: tuple[Stack, Balancer]) -> None:
    """Written beside the scripts so `@ag-ui/client` resolves to the pinned package."""
    stack, balancer = lb
    script = SCRIPTS / ".readme-example.mjs"
    script.write_text(readme_example())
    try:
        code, output = await run_node(script, url=balancer.url)
    finally:
        script.unlink(missing_ok=True)
    assert code == 0 and output.strip() == "t1 t2 t3 t4 t5", f"{output}\n{stack.logs()}"
