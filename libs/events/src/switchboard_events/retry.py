"""Retries, the one way (tenacity): a step retried for a while, or a connection kept up forever.

Each returns a `tenacity.AsyncRetrying`; call it with the coroutine function and its arguments
(`await retry_for(...)(fn, *args)`). Cancellation is never retried.
"""

import logging
from collections.abc import Awaitable, Callable

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_delay,
    stop_never,
    wait_exponential,
    wait_fixed,
)

__all__ = ["RetryCallState", "reconnecting", "retry_for"]

Retryable = type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]


def _condition(on: Retryable) -> retry_if_exception:
    if isinstance(on, type | tuple):
        return retry_if_exception_type(on)
    return retry_if_exception(on)


def retry_for(
    seconds: float,
    on: Retryable,
    every: float,
    *,
    max_every: float | None = None,
    before_sleep: Callable[[RetryCallState], Awaitable[None] | None] | None = None,
) -> AsyncRetrying:
    """Retry on `on` (exception types, or a predicate) until `seconds` have passed since the
    first try, `every` seconds apart (doubling up to `max_every` when given); then the last
    exception is raised as it was."""
    wait = wait_fixed(every) if max_every is None else wait_exponential(every, max=max_every)
    return AsyncRetrying(
        retry=_condition(on),
        stop=stop_after_delay(seconds),
        wait=wait,
        before_sleep=before_sleep,
        reraise=True,
    )


def reconnecting(every: float, log: logging.Logger, what: str) -> AsyncRetrying:
    """Retry any failure forever, `every` seconds apart, logging it as `what` unavailable (for
    a task that holds a connection and returns only when cancelled)."""

    def report(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s unavailable (%r); retrying in %ss", what, exc, every)

    return AsyncRetrying(
        retry=retry_if_exception_type(Exception),
        stop=stop_never,
        wait=wait_fixed(every),
        before_sleep=report,
    )
