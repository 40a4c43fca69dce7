"""History pages under attack, with a bystander (issue 25, finding 2). Measured, never asserted.

The whole stack as processes at shipped defaults (one gateway, one run worker, no tool worker):
- attacker A queues 12 runs of `/tokens 100000` in one session (answers of ~690 000 characters,
  the probe's), then, while the bystander streams, sends waves of 100 concurrent
  `GET /ai/sessions/{id}?messages_limit=500` through the gateway, each wave when the last
  is answered;
- bystander B streams `/tokens 1000 rate=50` on its own device (the SDK) and reads its session
  and its list over REST, one call after another.

Reported: A's answers by status and the page's bytes; the peak RSS of the gateway and the session
service; B's longest gap between two tokens (targets: < 250 ms) and its REST calls' p50 / max
(target: < 500 ms), under the attack and, just before it, without (the machine's own noise:
its load average is reported too). The probe saw, before the fix: gateway 2.6 GB, session
service 1 GB, B's REST 1.5 s. `python -m bench --abuse` writes `abuse.json`.
"""

import asyncio
import itertools
import json
import multiprocessing
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
from switchboard_client import SwitchboardClient
from switchboard_stack import ServiceProcess, fresh_database, isolated_broker
from switchboard_stack import running_stack as harness_stack

from .config import BenchSettings

ANSWERS, ANSWER_TOKENS = 12, 100_000
CONCURRENT_GETS = 100
BYSTANDER_RUN = "/tokens 1000 rate=50"
TARGET_GAP_S, TARGET_REST_S = 0.25, 0.5
SEED_TIMEOUT_S = 1200.0


async def measure(bench: BenchSettings) -> dict[str, Any]:
    async with (
        isolated_broker(bench.amqp_url, "benchabuse", bench.queue_type) as broker,
        fresh_database(bench.postgres_url, bench.database) as database_url,
        harness_stack(database_url, broker, None, gateways=1, workers=1, tools=False) as stack,
    ):
        url = stack.url
        attacker = await SwitchboardClient.dev_token("attacker", url)
        bystander = await SwitchboardClient.dev_token("bystander", url)
        seeded_s, sid = await _seed(url, attacker)
        quiet_gaps, quiet_rest = await _bystander(url, bystander)  # the same, without attack
        memory = _Peaks([stack.processes["gateway"], stack.processes["session"]])
        sampling = asyncio.create_task(memory.sample())
        spawn = multiprocessing.get_context("spawn")
        stop, answers = spawn.Event(), spawn.Queue()
        attack = spawn.Process(target=_attack_process, args=(url, attacker, sid, stop, answers))
        attack.start()  # its own process: the bystander's receipt times are not its CPU's
        try:
            await asyncio.sleep(3.0)  # the attack is under way before the bystander starts
            gaps, rest = await _bystander(url, bystander)
        finally:
            stop.set()
            statuses, page_bytes = await asyncio.to_thread(answers.get, True, 120)
            attack.join(30)
            sampling.cancel()
    return {
        "attack": f"{ANSWERS} answers of /tokens {ANSWER_TOKENS}; waves of {CONCURRENT_GETS} "
        "concurrent GET /ai/sessions/{id}?messages_limit=500",
        "seeded_s": round(seeded_s, 1),
        "attacker_answers": dict(statuses),
        "page_bytes": page_bytes,
        "gateway_rss_mb": memory.mb(0),
        "session_rss_mb": memory.mb(1),
        "bystander_run": BYSTANDER_RUN,
        "bystander_tokens": len(gaps) + 1,
        "bystander_max_token_gap_s": round(max(gaps), 3),
        "bystander_rest_calls": len(rest),
        "bystander_rest_p50_s": round(statistics.median(rest), 3),
        "bystander_rest_max_s": round(max(rest), 3),
        "without_attack": {
            "max_token_gap_s": round(max(quiet_gaps), 3),
            "rest_p50_s": round(statistics.median(quiet_rest), 3),
            "rest_max_s": round(max(quiet_rest), 3),
        },
        "load_average": [round(x, 1) for x in psutil.getloadavg()],
        "targets": {"token_gap_s": TARGET_GAP_S, "rest_s": TARGET_REST_S},
    }


async def _seed(url: str, token: str) -> tuple[float, str]:
    """A's session with ANSWERS long answers stored; (seconds it took, session id)."""
    started = time.perf_counter()
    async with SwitchboardClient(url, token, timeout_s=60) as client:
        session = await client.create_session(client_id="attacker")
        sid = str(session["id"])
        for _ in range(ANSWERS):
            await client.send_message(sid, f"/tokens {ANSWER_TOKENS} rate=0", on_busy="enqueue")
        async with asyncio.timeout(SEED_TIMEOUT_S):
            while not await _all_stored(client, sid):  # noqa: ASYNC110 - state in Postgres
                await asyncio.sleep(1.0)
    return time.perf_counter() - started, sid


async def _all_stored(client: SwitchboardClient, sid: str) -> bool:
    """Every run over and its answer stored (counted over every page of the history)."""
    page = await client.get_session(sid, messages_limit=500)
    if page["active_run"] is not None or page.get("queued_runs"):
        return False
    answers = 0
    while True:
        answers += sum(m["role"] == "assistant" for m in page["messages"])
        if page["messages_before"] is None:
            return answers == ANSWERS
        before = page["messages_before"]
        page = await client.get_session(sid, messages_limit=500, before=before)


def _attack_process(url: str, token: str, sid: str, stop: Any, answers: Any) -> None:
    answers.put(asyncio.run(_attack(url, token, sid, stop)))


async def _attack(url: str, token: str, sid: str, stop: Any) -> tuple[Counter[int | str], int]:
    """Waves of concurrent page reads until `stop` is set; statuses counted, the page's bytes."""
    statuses: Counter[int | str] = Counter()
    page_bytes = 0
    limits = httpx.Limits(max_connections=CONCURRENT_GETS)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as http:

        async def get() -> None:
            nonlocal page_bytes
            try:
                answer = await http.get(f"/ai/sessions/{sid}", params={"messages_limit": 500})
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                return
            statuses[answer.status_code] += 1
            if answer.status_code == 200:
                page_bytes = max(page_bytes, len(answer.content))

        while not stop.is_set():
            await asyncio.gather(*(get() for _ in range(CONCURRENT_GETS)))
    return statuses, page_bytes


async def _bystander(url: str, token: str) -> tuple[list[float], list[float]]:
    """B's run streamed and its REST calls meanwhile: (gaps between tokens, call seconds)."""
    async with SwitchboardClient(url, token, timeout_s=60) as client:
        session = await client.create_session(client_id="phone")
        sid = str(session["id"])
        done = asyncio.Event()
        calls = asyncio.create_task(_rest_calls(client, sid, done))
        arrivals: list[float] = []
        async with client.events(sid, client_id="phone") as stream:
            await client.send_message(sid, BYSTANDER_RUN)
            async for item in stream:
                if item.type == "token":
                    arrivals.append(time.perf_counter())
                elif item.type == "run_end":
                    break
        done.set()
        rest = await calls
    return [b - a for a, b in itertools.pairwise(arrivals)], rest


async def _rest_calls(client: SwitchboardClient, sid: str, done: asyncio.Event) -> list[float]:
    seconds = []
    while not done.is_set():
        for call in (client.get_session(sid), client.list_sessions(limit=20)):
            started = time.perf_counter()
            await call
            seconds.append(time.perf_counter() - started)
        await asyncio.sleep(0.1)
    return seconds


class _Peaks:
    """The highest RSS each process reached while sampled."""

    def __init__(self, services: list[ServiceProcess]) -> None:
        self.procs = [psutil.Process(s.proc.pid) for s in services if s.proc is not None]
        self.peaks = [p.memory_info().rss for p in self.procs]

    async def sample(self) -> None:
        while True:
            for i, proc in enumerate(self.procs):
                self.peaks[i] = max(self.peaks[i], proc.memory_info().rss)
            await asyncio.sleep(0.05)

    def mb(self, index: int) -> float:
        return round(self.peaks[index] / 2**20, 1)


def run_alone(bench: BenchSettings) -> int:
    """`--abuse`: measure, print, write `abuse.json` beside the other results."""
    result = asyncio.run(measure(bench))
    out = Path(bench.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "abuse.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"history-page attack ({result['attacker_answers']}, page {result['page_bytes']} B): "
        f"gateway peak {result['gateway_rss_mb']} MB, session service {result['session_rss_mb']} "
        f"MB; bystander longest token gap {result['bystander_max_token_gap_s']} s "
        f"(target < {TARGET_GAP_S}), REST p50 {result['bystander_rest_p50_s']} s, max "
        f"{result['bystander_rest_max_s']} s (target < {TARGET_REST_S}); without the attack "
        f"{result['without_attack']}, load average {result['load_average']}"
    )
    print(f"wrote {path}")
    return 0
