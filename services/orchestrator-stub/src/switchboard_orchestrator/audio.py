"""Stub speech: real WAV audio (a tone per character) that carries its text, and back.

`synthesize` writes 16 kHz mono 16-bit PCM with the stdlib `wave` module and appends a RIFF
`LIST`/`INFO` chunk whose `ICMT` entry holds the spoken text, so `transcribe` (the stub STT)
can read it back. Audio without that chunk is described by its length instead.
Each character's tone is computed once per pitch and cached, so speaking is a join of bytes;
callers still synthesize off the event loop (`asyncio.to_thread`), one chunk at a time.
"""

import base64
import functools
import io
import math
import struct
import wave
from array import array

RATE = 16_000
CHAR_S = 0.04
AMPLITUDE = 6000
WORDS_PER_CHUNK = 4


class BadAudio(ValueError):
    """Bytes that are not a WAV file this stub can read."""


def synthesize(text: str) -> bytes:
    """A WAV file speaking `text` (one short tone per character, silence for spaces)."""
    pcm = b"".join(_tone(0 if char.isspace() else ord(char) % 64 + 1) for char in text)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm)
    return _with_text(buffer.getvalue(), text)


@functools.cache
def _tone(pitch: int) -> bytes:
    """One character's PCM: silence for pitch 0, else a tone of 208 + 12 x pitch Hz."""
    count = int(RATE * CHAR_S)
    if pitch == 0:
        return bytes(2 * count)
    step = 2 * math.pi * (208.0 + pitch * 12.0) / RATE
    return array("h", (int(AMPLITUDE * math.sin(step * i)) for i in range(count))).tobytes()


def _with_text(wav: bytes, text: str) -> bytes:
    payload = text.encode() + b"\0"
    if len(payload) % 2:
        payload += b"\0"
    info = b"INFO" + b"ICMT" + struct.pack("<I", len(payload)) + payload
    chunk = b"LIST" + struct.pack("<I", len(info)) + info
    body = wav[8:] + chunk
    return b"RIFF" + struct.pack("<I", len(body)) + body


def speech_groups(text: str) -> list[str]:
    """`text` in groups of a few words, one WAV chunk each (at least one, maybe empty)."""
    words = text.split()
    groups = [words[i : i + WORDS_PER_CHUNK] for i in range(0, len(words), WORDS_PER_CHUNK)]
    return [" ".join(group) for group in groups] or [""]


def synthesize_b64(text: str) -> str:
    """`synthesize(text)` as base64 (what a `tts` event carries); CPU work, run off the loop."""
    return base64.b64encode(synthesize(text)).decode()


def clip(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars` characters, at a word boundary when there is one."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return cut[:space] if space > 0 else cut


def transcribe(wav: bytes) -> str:
    """The text embedded by `synthesize`, else a description such as "(1.2 s of audio)"."""
    chunks = _riff_chunks(wav)
    text = _embedded_text(chunks)
    if text is not None:
        return text
    try:
        with wave.open(io.BytesIO(wav), "rb") as audio:
            seconds = audio.getnframes() / audio.getframerate()
    except (wave.Error, EOFError, ZeroDivisionError) as exc:
        raise BadAudio(f"not a readable WAV file: {exc}") from exc
    return f"({seconds:.1f} s of audio)"


def _riff_chunks(wav: bytes) -> dict[bytes, bytes]:
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise BadAudio("not a RIFF/WAVE file")
    chunks: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(wav):
        cid = wav[pos : pos + 4]
        (size,) = struct.unpack("<I", wav[pos + 4 : pos + 8])
        chunks.setdefault(cid, wav[pos + 8 : pos + 8 + size])
        pos += 8 + size + (size % 2)
    return chunks


def _embedded_text(chunks: dict[bytes, bytes]) -> str | None:
    info = chunks.get(b"LIST", b"")
    if info[:4] != b"INFO":
        return None
    pos = 4
    while pos + 8 <= len(info):
        cid = info[pos : pos + 4]
        (size,) = struct.unpack("<I", info[pos + 4 : pos + 8])
        if cid == b"ICMT":
            return info[pos + 8 : pos + 8 + size].rstrip(b"\0").decode(errors="replace")
        pos += 8 + size + (size % 2)
    return None
