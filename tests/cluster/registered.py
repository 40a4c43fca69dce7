"""10 000 registered devices, as the issue's cluster promise has them: registering a device
makes nothing on the broker (v2: no queue per device), so the scenarios run beside them and
the broker's queue count does not move.

They are written straight into the sessions table (`client_ids`), 16 per session and 64 per
user (the shipped caps), as the REST API would have registered them one by one: the scenarios
test the broker's side, and 10 000 REST registrations would take minutes on two cores.
"""

import asyncio
import json
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from scripts.cluster import Cluster, Node

DEVICES = 10_000
PER_SESSION, PER_USER = 16, 64


async def register_devices(database_url: str, devices: int = DEVICES) -> int:
    """Register `devices` devices over new sessions; how many sessions that took."""
    rows = []
    for n in range(0, devices, PER_SESSION):
        sid = f"reg-{uuid.uuid4().hex[:12]}"
        ids = [f"d{i}" for i in range(min(PER_SESSION, devices - n))]
        rows.append({"id": sid, "user": f"reg{n // PER_USER}", "ids": ids})
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as db:
            await db.execute(
                sa.text(
                    "INSERT INTO sessions (id, user_id, agent_type, mode, status, expires_at,"
                    " metadata, user_context, client_ids, message_seq) VALUES (:id, :user,"
                    " 'personal', 'text', 'active', now() + interval '1 day', '{}', '{}',"
                    " :ids, 0)"
                ),
                rows,
            )
    finally:
        await engine.dispose()
    return len(rows)


async def queue_count(cluster: Cluster, node: Node, prefix: str) -> int:
    """Queues and streams of `prefix` on the cluster."""
    out = await asyncio.to_thread(cluster.ctl, node, "list_queues", "name", "--formatter", "json")
    return sum(row["name"].startswith(prefix) for row in json.loads(out))
