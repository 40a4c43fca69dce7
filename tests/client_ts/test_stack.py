"""The TypeScript SDK in Node against the real stack (every service a process): 2 000 tokens
with client acks, a gateway SIGKILLed mid-run with the device resuming on another replica,
two devices, cancel, voice (sendAudio, joinTts), and the package README's examples run verbatim
(the first through a gateway kill)."""

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from switchboard_protocol.wav import read_wav
from switchboard_stack import ServiceProcess, free_port

from tests.client_ts.balancer import Balancer
from tests.client_ts.npm import INTEGRATION, PACKAGE, ensure_built, run_node
from tests.reliability.helpers import token
from tests.speech import SENTENCE, espeak_wav, hear, heard_words
from tests.stack import Stack, isolated_stack

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.db, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
async def lb(postgres_admin_url: str, amqp_url: str) -> AsyncIterator[tuple[Stack, Balancer]]:
    """A whole stack (shipped defaults) behind a balancer; the scripts know the balancer only."""
    ensure_built()
    async with isolated_stack(postgres_admin_url, amqp_url, "ts") as stack:
        port = int(stack.url.rsplit(":", 1)[1])
        async with Balancer(port).serving() as balancer:
            yield stack, balancer


async def spare_gateway(stack: Stack) -> int:
    """Another gateway replica of the stack (same broker prefix and session service); its port."""
    port = free_port()
    args = ["--host", "127.0.0.1", "--port", str(port)]
    spare = ServiceProcess("switchboard-gateway", args, stack.env).start()
    stack.processes[f"gateway-{port}"] = spare
    await spare.wait_http(f"http://127.0.0.1:{port}/ai/health", 60)
    return port


def fail_over(stack: Stack, balancer: Balancer, spare: int) -> None:
    """SIGKILL the gateway behind the balancer; new connections go to the `spare` replica."""
    for process in stack.processes.values():
        if process.script == "switchboard-gateway" and process.args[-1] == str(balancer.upstream):
            process.kill()
    balancer.upstream = spare


async def test_2000_tokens_with_client_acks(lb: tuple[Stack, Balancer]) -> None:
    stack, balancer = lb
    # acks every half window only (no quiet-time acks): the gateway's contract says that
    # alone never stalls, under its shipped defaults
    code, output = await run_node(
        INTEGRATION / "tokens.mjs", "2000", url=balancer.url, env={"ACK_DELAY": "off"}
    )
    assert code == 0, f"{output}\n{stack.logs()}"
    assert json.loads(output.splitlines()[-1])["connects"] == 1


async def test_the_runtime_s_global_websocket_is_used_when_there_is_one(
    lb: tuple[Stack, Balancer],
) -> None:
    """Node 20 has a global WebSocket only behind a flag; the SDK takes it when none is given."""
    stack, balancer = lb
    code, output = await run_node(
        INTEGRATION / "tokens.mjs",
        "300",
        url=balancer.url,
        node_args=("--experimental-websocket", "--no-warnings"),
        env={"SWITCHBOARD_GLOBAL_WS": "1"},
    )
    assert code == 0, f"{output}\n{stack.logs()}"


async def test_a_token_is_refreshed_in_band_before_it_expires(lb: tuple[Stack, Balancer]) -> None:
    """The first token lives 4 s; the run takes 6 s on one connection (no 4401)."""
    stack, balancer = lb
    first = token("ts-refresh", ttl_s=4)
    code, output = await run_node(
        INTEGRATION / "refresh.mjs", url=balancer.url, env={"FIRST_TOKEN": first}
    )
    assert code == 0, f"{output}\n{stack.logs()}"


async def test_two_devices_see_the_whole_run_and_each_other(lb: tuple[Stack, Balancer]) -> None:
    stack, balancer = lb
    code, output = await run_node(INTEGRATION / "devices.mjs", url=balancer.url)
    assert code == 0, f"{output}\n{stack.logs()}"


async def test_a_device_joining_mid_run_catches_up(lb: tuple[Stack, Balancer]) -> None:
    stack, balancer = lb
    code, output = await run_node(INTEGRATION / "catchup.mjs", url=balancer.url)
    assert code == 0, f"{output}\n{stack.logs()}"


async def test_long_answers_are_caught_up_and_read_whole(lb: tuple[Stack, Balancer]) -> None:
    stack, balancer = lb
    code, output = await run_node(INTEGRATION / "longtext.mjs", url=balancer.url)
    assert code == 0, f"{output}\n{stack.logs()}"


async def test_cancel_enqueue_and_tool_approval(lb: tuple[Stack, Balancer]) -> None:
    stack, balancer = lb
    code, output = await run_node(INTEGRATION / "cancel.mjs", url=balancer.url)
    assert code == 0, f"{output}\n{stack.logs()}"


async def test_a_gateway_sigkill_mid_run_loses_and_doubles_nothing(
    lb: tuple[Stack, Balancer],
) -> None:
    """The script checks the text is t1 … t2000 exactly once and no id came twice."""
    stack, balancer = lb
    spare = await spare_gateway(stack)
    killed: list[str] = []

    async def on_line(line: str) -> None:
        if line.startswith("PROGRESS"):
            fail_over(stack, balancer, spare)
            killed.append(line)

    code, output = await run_node(
        INTEGRATION / "tokens.mjs", "2000", "200", "300", url=balancer.url, on_line=on_line
    )
    assert code == 0 and killed, f"{output}\n{stack.logs()}"
    summary = json.loads(output.splitlines()[-1])
    assert summary["connects"] >= 2 and "reconnecting" in summary["states"], summary
    assert balancer.connections.get(spare, 0) >= 1, "the device resumed on the other replica"


def readme_example(index: int = 0) -> str:
    """The README's ```js block number `index` (0: the first), as is."""
    blocks = re.findall(r"```js\n(.*?)```", (PACKAGE / "README.md").read_text(), re.S)
    assert len(blocks) > index, f"no js block {index} in libs/client-ts/README.md"
    return str(blocks[index])


async def run_in_progress(url: str, user: str, past_seq: int) -> None:
    """Wait until `user`'s newest session has a run in progress beyond `past_seq` (as stored)."""
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        token = (await http.post("/ai/dev/token", json={"user_id": user})).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with asyncio.timeout(60):
            while True:
                items = (await http.get("/ai/sessions", headers=headers)).json()["items"]
                if items:
                    session = (
                        await http.get(f"/ai/sessions/{items[0]['id']}", headers=headers)
                    ).json()
                    if (session.get("active_run") or {}).get("seq", 0) > past_seq:
                        return
                await asyncio.sleep(0.05)


async def test_the_readme_example_survives_a_gateway_sigkill(lb: tuple[Stack, Balancer]) -> None:
    """The example, verbatim, streams a run while its gateway is SIGKILLed: it prints the whole
    text once and exits 0. (Written inside the package so `@switchboard/client` resolves to
    this build.)"""
    stack, balancer = lb
    script = PACKAGE / "integration" / ".readme-example.mjs"
    script.write_text(readme_example())
    count = 600
    spare = await spare_gateway(stack)
    try:
        running = asyncio.create_task(
            run_node(script, f"/tokens {count} rate=100", url=balancer.url)
        )
        await run_in_progress(balancer.url, "alice", past_seq=50)
        assert not running.done(), running.result()
        fail_over(stack, balancer, spare)
        code, output = await running
    finally:
        script.unlink(missing_ok=True)
    expected = "".join(f"t{i} " for i in range(1, count + 1))
    assert code == 0 and output.strip() == expected.strip(), f"{output[-800:]}\n{stack.logs()}"
    assert balancer.connections.get(spare, 0) >= 1, "the example resumed on the other replica"


async def test_an_utterance_is_heard_and_its_joined_reply_speaks_its_words(
    lb: tuple[Stack, Balancer], tmp_path: Path
) -> None:
    """sendAudio posts espeak-ng's WAV (a streaming header): pocketsphinx hears it; the reply's
    tts chunks, joined by joinTts, are heard back holding the sentence's words (the stub's reply
    quotes the utterance). Broken uploads throw their ApiError (checked in the script)."""
    stack, balancer = lb
    utterance, spoken = tmp_path / "utterance.wav", tmp_path / "reply.wav"
    utterance.write_bytes(espeak_wav(SENTENCE))
    env = {"VOICE_WAV": str(utterance), "TTS_OUT": str(spoken)}
    code, output = await run_node(INTEGRATION / "voice.mjs", url=balancer.url, env=env)
    assert code == 0, f"{output}\n{stack.logs()}"
    result = json.loads(output.splitlines()[-1])
    assert len(heard_words(result["heard"])) >= 3, result
    heard = await hear(spoken.read_bytes())
    assert len(heard_words(heard)) >= 3, heard


async def test_the_readme_voice_example_hears_and_writes_the_spoken_reply(
    lb: tuple[Stack, Balancer], tmp_path: Path
) -> None:
    """The Voice section's example, verbatim: it prints partial and final transcripts of
    espeak-ng's WAV and writes the reply's joined tts chunks as one WAV file."""
    stack, balancer = lb
    utterance, reply = tmp_path / "utterance.wav", tmp_path / "reply.wav"
    utterance.write_bytes(espeak_wav(SENTENCE))
    script = PACKAGE / "integration" / ".readme-voice.mjs"
    script.write_text(readme_example(1))
    try:
        code, output = await run_node(script, str(utterance), str(reply), url=balancer.url)
    finally:
        script.unlink(missing_ok=True)
    assert code == 0, f"{output}\n{stack.logs()}"
    heard = [line for line in output.splitlines() if line.startswith("heard: ")]
    assert len(heard) == 1 and len(heard_words(heard[0])) >= 3, output
    assert read_wav(reply.read_bytes()).duration_s > 1
