"""Dead letters: what a consumer cannot process is parked, with its reason, instead of looping.

A consumer of `ai.runs` or `ai.tools` (or the session service's ingest of the streams, source
`session-store`) that meets a message a retry cannot fix (unparsable, invalid data) parks it at
once; a message failing for a transient reason is retried a bounded number of times
(`RetryCounter`), then parked. Parking publishes a copy to the `ai.dead-letters` exchange with
the source as routing key, so it lands in `ai.dead-letters.<source>`, and then the consumer acks
the original. Headers on the copy:

- `x-death-reason`: a short code (`invalid_event`, `bad_data`, `retries_exhausted`, ...)
- `x-source-queue`: the queue (or stream) it came from (replay sends it back there)
- `x-error`: the error text, truncated to `MAX_ERROR_CHARS`
- `x-original-routing-key`: the routing key it was first published with
"""

import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from .routing import SOURCE_QUEUES, Names

log = logging.getLogger(__name__)

REASON = "x-death-reason"
SOURCE = "x-source-queue"
ERROR = "x-error"
ROUTING_KEY = "x-original-routing-key"
REPLAYED = "x-replayed"
MAX_ERROR_CHARS = 500
OUR_HEADERS = (REASON, SOURCE, ERROR, ROUTING_KEY)


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters (an ellipsis marks the cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class DeadLetter:
    """Why a message is parked."""

    reason: str
    error: str


class DeadLetters:
    """Parks messages of one source (`runs`, `tools`, `session-store`) on a confirming channel."""

    def __init__(self, channel: AbstractChannel, names: Names, source: str) -> None:
        self._channel = channel
        self.source = source
        # session-store letters come from the streams (any shard): no queue to send them back to
        queue_source = source in SOURCE_QUEUES
        self.source_queue = names.source_queue(source) if queue_source else names.stream_base
        self._exchange_name = names.dead_letters_exchange

    async def park(
        self, message: AbstractIncomingMessage, letter: DeadLetter, body: bytes | None = None
    ) -> None:
        """Publish a copy (or `body` instead, e.g. the one bad event of a batch) with the
        reason; the caller acks the original afterwards. Raises when the broker refuses."""
        copy = aio_pika.Message(
            message.body if body is None else body,
            headers={**(message.headers or {}), ROUTING_KEY: message.routing_key or ""},
            content_type=message.content_type,
            correlation_id=message.correlation_id,
            reply_to=message.reply_to,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await self._publish(copy, letter, self.source_queue)

    async def _publish(self, copy: aio_pika.Message, letter: DeadLetter, source: str) -> None:
        copy.headers = {
            **(copy.headers or {}),
            REASON: letter.reason,
            SOURCE: source,
            ERROR: truncate(letter.error, MAX_ERROR_CHARS),
        }
        exchange = await self._channel.get_exchange(self._exchange_name, ensure=False)
        await exchange.publish(copy, self.source)
        log.error(
            "dead-lettered a message of %s: %s (%s)",
            source,
            letter.reason,
            truncate(letter.error, 200),
        )


class RetryCounter:
    """Tries per message, kept in memory (bounded): a message's key is a hash of its body."""

    def __init__(self, max_tries: int, max_keys: int = 10_000) -> None:
        self.max_tries = max_tries
        self._max_keys = max_keys
        self._tries: OrderedDict[bytes, int] = OrderedDict()

    @staticmethod
    def key(message: AbstractIncomingMessage) -> bytes:
        return hashlib.blake2b(message.body, digest_size=16).digest()

    def failed(self, message: AbstractIncomingMessage) -> int:
        """Count one more failed try of `message`; how many it has had."""
        key = self.key(message)
        tries = self._tries.pop(key, 0) + 1
        self._tries[key] = tries
        while len(self._tries) > self._max_keys:
            self._tries.popitem(last=False)
        return tries

    def exhausted(self, tries: int) -> bool:
        return tries >= self.max_tries

    def forget(self, message: AbstractIncomingMessage) -> None:
        self._tries.pop(self.key(message), None)


def backoff_s(tries: int, base_s: float = 0.25, cap_s: float = 5.0) -> float:
    """Pause before try `tries + 1`: doubling from `base_s`, at most `cap_s`."""
    return float(min(cap_s, base_s * 2 ** max(0, tries - 1)))
