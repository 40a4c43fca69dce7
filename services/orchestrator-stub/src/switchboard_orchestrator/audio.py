"""Stub speech: real WAV audio (a tone per character) that carries its text, and back.

`synthesize` writes 16 kHz mono 16-bit PCM with the stdlib `wave` module and appends a RIFF
`LIST`/`INFO` chunk whose `ICMT` entry holds the spoken text, so `transcribe` (the stub STT)
can read it back. Audio without that chunk is described by its length instead.
"""

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
    samples = array("h")
    per_char = int(RATE * CHAR_S)
    for char in text:
        freq = 0.0 if char.isspace() else 220.0 + (ord(char) % 64) * 12.0
        samples.extend(_tone(freq, per_char))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())
    return _with_text(buffer.getvalue(), text)


def _tone(freq: float, count: int) -> array:
    if freq == 0.0:
        return array("h", bytes(2 * count))
    step = 2 * math.pi * freq / RATE
    return array("h", (int(AMPLITUDE * math.sin(step * i)) for i in range(count)))


def _with_text(wav: bytes, text: str) -> bytes:
    payload = text.encode() + b"\0"
    if len(payload) % 2:
        payload += b"\0"
    info = b"INFO" + b"ICMT" + struct.pack("<I", len(payload)) + payload
    chunk = b"LIST" + struct.pack("<I", len(info)) + info
    body = wav[8:] + chunk
    return b"RIFF" + struct.pack("<I", len(body)) + body


def speech_chunks(text: str) -> list[bytes]:
    """`text` as several WAV files of a few words each (each one decodes on its own)."""
    words = text.split()
    groups = [words[i : i + WORDS_PER_CHUNK] for i in range(0, len(words), WORDS_PER_CHUNK)]
    return [synthesize(" ".join(group)) for group in groups] or [synthesize("")]


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
