"""Running one request: `run_start`, the directive's events, `run_end` with its status.

A run whose lease was lost (lease.py) stops at its next step and emits nothing more, not even
`run_end`: the session service ends it (`worker_lost`, seq 1 000 000 001 and 1 000 000 002).
"""

import asyncio
import base64
import logging

from switchboard_events import Publisher, RunStream
from switchboard_protocol.wav import read_wav

from .actions import ACTIONS
from .backend import BackendError
from .cancellation import LEASE_LOST, RunCancelled
from .directives import BadDirective, Chat, parse
from .limits import RUN_TIMEOUT
from .pcm import to_pcm16k
from .run_context import RunContext, RunFailed
from .stt import SttError
from .tts import TtsError

log = logging.getLogger(__name__)

LOST = "lost"
"""`execute`'s status for a run given up because its lease was lost (no `run_end` emitted)."""


async def execute(ctx: RunContext) -> str:
    """Run the request to its end and return the `run_end` status (already emitted).

    After `max_run_s` the run's control is cancelled with the reason `run_timeout`: the run
    stops within one token and ends `failed` with an `error` saying so."""
    request = ctx.request
    worker = {"worker": ctx.worker_id}
    await ctx.stream.emit("run_start", {"message_id": request.message_id}, metadata=worker)
    loop = asyncio.get_running_loop()
    timer = loop.call_later(ctx.limits.max_run_s, ctx.control.cancel, RUN_TIMEOUT)
    try:
        text = await _transcript(ctx) if request.audio_b64 else request.content
        directive = parse(text, ctx.limits) if ctx.limits.directives else Chat(text.strip())
        await ACTIONS[type(directive)](ctx, directive)
        status = "completed"
    except RunCancelled as exc:
        if str(exc) == LEASE_LOST:
            return LOST
        status = await _failed(ctx, _timed_out(ctx)) if str(exc) == RUN_TIMEOUT else "cancelled"
    except BadDirective as exc:
        status = await _failed(ctx, RunFailed(exc.code, str(exc)))
    except BackendError as exc:
        status = await _failed(ctx, RunFailed(exc.code, str(exc)))
    except SttError as exc:
        status = await _failed(ctx, RunFailed("stt_error", str(exc)))
    except TtsError as exc:
        status = await _failed(ctx, RunFailed("tts_error", str(exc)))
    except RunFailed as exc:
        status = await _failed(ctx, exc)
    except Exception as exc:
        log.exception("run %s crashed", request.run_id)
        status = await _failed(ctx, RunFailed("internal_error", f"the agent crashed: {exc!r}"))
    finally:
        timer.cancel()
        await ctx.close()
    if _lost(ctx):
        return LOST
    await ctx.stream.emit("run_end", _run_end(status, ctx))
    return status


def _lost(ctx: RunContext) -> bool:
    return ctx.control.cancelled and ctx.control.reason == LEASE_LOST


def _run_end(status: str, ctx: RunContext) -> dict[str, object]:
    if ctx.usage is None:
        return {"status": status}
    usage = ctx.usage
    tokens = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
    return {"status": status, "usage": {**tokens, "total_tokens": sum(tokens.values())}}


def _timed_out(ctx: RunContext) -> RunFailed:
    limit = ctx.limits.max_run_s
    return RunFailed(RUN_TIMEOUT, f"the run took longer than {limit:g} s (MAX_RUN_S)")


async def _failed(ctx: RunContext, failure: RunFailed) -> str:
    if _lost(ctx):
        return LOST
    await ctx.stream.emit("error", {"code": failure.code, "message": failure.message})
    return "failed"


async def _transcript(ctx: RunContext) -> str:
    """`stt` events for the request's audio (partial results, then the final text); a run
    in which nothing was heard ends with `error` `no_speech`."""
    pcm = await asyncio.to_thread(_pcm_of, ctx.request.audio_b64 or "")
    heard = aiter(ctx.voice.stt.transcribe(pcm))
    text, duration = "", 0.0
    while (item := await ctx.control.guard(anext(heard, None))) is not None:
        text, duration = item.text, round(item.duration_s, 3)
        await ctx.emit("stt", {"text": text, "final": item.final, "duration_s": duration})
    if not text.strip():
        raise RunFailed("no_speech", f"no speech was recognised in {duration:g} s of audio")
    return text


def _pcm_of(audio_b64: str) -> bytes:
    """The upload as 16 kHz mono PCM (the session service checked it; this is a backstop)."""
    try:
        return to_pcm16k(read_wav(base64.b64decode(audio_b64, validate=True)))
    except ValueError as exc:
        raise RunFailed("bad_audio", f"could not read the audio: {exc}") from exc


async def fail_unreadable_run(publisher: Publisher, session_id: str, run_id: str) -> None:
    """End a run whose request could not be read: `error` `bad_run_request` and `run_end`
    failed (seq 1 and 2; it never started), so its session takes the next message."""
    stream = RunStream(publisher, session_id=session_id, run_id=run_id)
    message = "this message could not be processed (invalid run request); send another"
    await stream.emit("error", {"code": "bad_run_request", "message": message})
    await stream.emit("run_end", {"status": "failed"})
    await stream.drain()
