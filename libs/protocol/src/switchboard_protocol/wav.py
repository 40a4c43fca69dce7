"""WAV audio as the API takes it (`POST .../audio`, binary frames) and sends it (`tts` chunks).

`read_wav` accepts any RIFF/WAVE file of PCM (8, 16, 24 or 32 bit integer) or IEEE float
(32 or 64 bit) samples, at any rate and channel count, plain or `WAVE_FORMAT_EXTENSIBLE`.
A streaming header (data size unknown: 0, 0xFFFFFFFF or a placeholder near 2 GiB, as
`espeak-ng --stdout` and many recorders write it) is read as "the data runs to the end", so
the duration comes from the bytes present. Anything else is refused before it is stored:
`NotWav` for bytes that are not a WAV file or an encoding other than PCM/float (415),
`BadWav` naming the problem for a WAV file that is corrupt or truncated (422).
Stdlib only: the session service validates with it, the worker decodes with it.
"""

import struct
from dataclasses import dataclass
from typing import Literal

PCM, FLOAT, EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
PLACEHOLDER_MIN = 0x7FFF0000
"""A declared data size this large (or 0, or 0xFFFFFFFF) is a streaming header's placeholder."""
MAX_CHANNELS = 64
MAX_RATE = 768_000


class NotWav(ValueError):
    """Not a WAV file this API reads (another format, or a compressed WAV encoding)."""


class BadWav(ValueError):
    """A WAV file that is corrupt or truncated; the message names the problem."""


@dataclass(frozen=True)
class WavAudio:
    encoding: Literal["pcm", "float"]
    channels: int
    rate: int
    width: int
    """Bytes per sample (one channel)."""
    data: bytes
    """The samples, interleaved, whole frames only."""
    streaming: bool = False
    """The header left the data size open (it was read to the end of the file)."""

    @property
    def frames(self) -> int:
        return len(self.data) // (self.width * self.channels)

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate


def read_wav(wav: bytes) -> WavAudio:
    """The audio of `wav`; NotWav or BadWav (see the module doc) when it cannot be read."""
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise NotWav("not a WAV file (no RIFF/WAVE header)")
    fmt: bytes | None = None
    pos = 12
    while pos + 8 <= len(wav):
        cid, size = wav[pos : pos + 4], struct.unpack("<I", wav[pos + 4 : pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            fmt = wav[body : body + size]
            if len(fmt) < min(size, 16):
                raise BadWav("truncated: the fmt chunk is cut short")
        elif cid == b"data":
            if fmt is None:
                raise BadWav("corrupt: the data chunk comes before any fmt chunk")
            return _audio(fmt, wav[body:], size)
        pos = body + size + (size % 2)
    if fmt is None:
        raise BadWav("corrupt: no fmt chunk" if pos >= len(wav) else "truncated header")
    raise BadWav("truncated: no data chunk")


def _audio(fmt: bytes, rest: bytes, size: int) -> WavAudio:
    encoding, channels, rate, width = _format(fmt)
    streaming = size in (0, 0xFFFFFFFF) or size >= PLACEHOLDER_MIN
    if not streaming and len(rest) < size:
        raise BadWav(f"truncated: the data chunk declares {size} bytes, {len(rest)} are present")
    data = rest if streaming else rest[:size]
    frame = width * channels
    data = data[: len(data) - len(data) % frame]
    if not data:
        raise BadWav("no audio: the data chunk holds no whole frame")
    return WavAudio(encoding, channels, rate, width, data, streaming)


def _format(fmt: bytes) -> tuple[Literal["pcm", "float"], int, int, int]:
    if len(fmt) < 16:
        raise BadWav(f"corrupt: the fmt chunk has {len(fmt)} bytes, at least 16 are needed")
    tag, channels, rate, _, align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == EXTENSIBLE:
        if len(fmt) < 26:
            raise BadWav("corrupt: WAVE_FORMAT_EXTENSIBLE without its sub-format")
        tag = struct.unpack("<H", fmt[24:26])[0]
    if tag not in (PCM, FLOAT):
        raise NotWav(f"unsupported WAV encoding {tag:#06x}: only PCM and float samples")
    width = bits // 8
    allowed = (4, 8) if tag == FLOAT else (1, 2, 3, 4)
    if bits % 8 or width not in allowed:
        raise BadWav(f"corrupt: {bits}-bit samples are not supported for this encoding")
    if not 1 <= channels <= MAX_CHANNELS:
        raise BadWav(f"corrupt: {channels} channels")
    if not 1 <= rate <= MAX_RATE:
        raise BadWav(f"corrupt: sample rate {rate} Hz")
    if align != width * channels:
        raise BadWav(f"corrupt: block align {align}, expected {width * channels}")
    return ("float" if tag == FLOAT else "pcm"), channels, rate, width


def write_wav(pcm: bytes, rate: int, *, channels: int = 1, width: int = 2) -> bytes:
    """A PCM WAV file of `pcm` (interleaved little-endian samples) with its true sizes."""
    align = channels * width
    fmt = struct.pack("<HHIIHH", PCM, channels, rate, rate * align, align, width * 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    body += b"data" + struct.pack("<I", len(pcm)) + pcm + (b"\0" if len(pcm) % 2 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body
