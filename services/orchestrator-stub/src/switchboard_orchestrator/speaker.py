"""Speaking a reply while it is generated: `tts` chunks, one per sentence, as tokens arrive.

`Pieces` cuts the text fed to it into what is spoken as one chunk: a sentence (ended by
`.`, `!`, `?` or a line break), or, for a long one, its first words at a clause mark (`,`,
`;`, `:`) once it has `CLAUSE_WORDS`, at `MAX_WORDS` words at the latest (the first piece at
`FIRST_MAX_WORDS`, so the first audio comes soon). A piece is let go
once the text after it has begun (so the reply's last piece is the one `finish` sends, final).
`Speaker` synthesises each piece in order in a task of its own (tokens keep flowing) and emits
`tts {audio, format: "wav", chunk, final}`; at most `max_chars` are spoken, then `finish`
emits a `warning` `tts_truncated`.
"""

import asyncio
import base64
import bisect
import re
from collections.abc import Awaitable, Callable
from typing import Any

from switchboard_protocol.wav import write_wav

from .pcm import RATE
from .tts import TextToSpeech

CLAUSE_WORDS = 8
MAX_WORDS = 16
FIRST_MAX_WORDS = 8
"""The reply's first piece is cut sooner: its audio starts the reply."""
SENTENCE_END = re.compile(r"(?:[.!?]+[\"')\]]*\s+|\n\s*)(?=\S)")
CLAUSE_END = re.compile(r"[,;:]\s+(?=\S)")
WORD = re.compile(r"\S+\s+(?=\S)")
"""A complete word: more text has begun after it."""
SILENCE = write_wav(bytes(2 * RATE // 10), RATE)
"""A tenth of a second, for a final chunk with nothing left to say."""

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]
Guard = Callable[[Awaitable[bytes]], Awaitable[bytes]]


def clip(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars` characters, at a word boundary when there is one."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return cut[:space] if space > 0 else cut


class Pieces:
    """Text in, pieces to speak out (see the module doc)."""

    def __init__(self) -> None:
        self._text = ""
        self._cap = FIRST_MAX_WORDS

    def feed(self, text: str) -> list[str]:
        self._text += text
        pieces = []
        while (cut := self._cut()) is not None:
            piece, self._text = self._text[:cut].strip(), self._text[cut:].lstrip()
            if piece:
                pieces.append(piece)
                self._cap = MAX_WORDS
        return pieces

    def rest(self) -> str:
        rest, self._text = self._text.strip(), ""
        return rest

    def _cut(self) -> int | None:
        """Where the next piece ends, if it is complete (text after it has begun)."""
        words = [m.end() for m in WORD.finditer(self._text)]
        cap = words[self._cap - 1] if len(words) >= self._cap else None
        sentence = SENTENCE_END.search(self._text)
        if sentence and (cap is None or sentence.end() <= cap):
            return sentence.end()
        limit = cap if cap is not None else (words[-1] if words else 0)
        for clause in CLAUSE_END.finditer(self._text, 0, limit + 1):
            if clause.end() <= limit and bisect.bisect_right(words, clause.end()) >= CLAUSE_WORDS:
                return clause.end()
        return cap


class Speaker:
    """One reply's speech (see the module doc). `close` stops it (a cancelled run)."""

    def __init__(self, tts: TextToSpeech, emit: Emit, guard: Guard, max_chars: int) -> None:
        self._tts, self._emit, self._guard = tts, emit, guard
        self._left = max_chars
        self._limit = max_chars
        self._pieces = Pieces()
        self._queue: asyncio.Queue[tuple[str, bool] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._chunks = 0
        self._done = False
        self.truncated = False

    def feed(self, text: str) -> None:
        """More of the reply: each piece it completes is queued for synthesis."""
        for piece in self._pieces.feed(text):
            self._put(piece, final=False)

    async def finish(self) -> None:
        """Speak the rest (final), wait until every chunk is out, then warn if cut."""
        self._put(self._pieces.rest(), final=True)
        self._queue.put_nowait(None)
        if self._task is not None:
            await self._task
        if self.truncated:
            message = f"the spoken reply was cut at {self._limit} characters (MAX_TTS_CHARS)"
            await self._emit("warning", {"code": "tts_truncated", "message": message})

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _put(self, piece: str, *, final: bool) -> None:
        if self._done:
            self.truncated = self.truncated or bool(piece)
            return
        spoken = clip(piece, max(0, self._left))
        if len(spoken) < len(piece):
            self.truncated, final = True, True
        self._left -= len(spoken) + 1
        if final and not spoken and self._chunks == 0:
            self._done = True  # nothing was said at all: no chunk
            return
        self._done = final
        self._queue.put_nowait((spoken, final))
        self._chunks += 1
        if self._task is None:
            self._task = asyncio.create_task(self._speak())

    async def _speak(self) -> None:
        number = 0
        while (item := await self._queue.get()) is not None:
            piece, final = item
            wav = await self._guard(self._tts.synthesize(piece)) if _sayable(piece) else SILENCE
            audio = base64.b64encode(wav).decode()
            data = {"audio": audio, "format": "wav", "chunk": number, "final": final}
            await self._emit("tts", data)
            number += 1


def _sayable(piece: str) -> bool:
    return any(char.isalnum() for char in piece)
