"""Any readable WAV (`switchboard_protocol.wav`) as 16 kHz mono 16-bit PCM, what pocketsphinx
decodes and what `tts` chunks carry. Channels are averaged; the rate is changed by FFT
resampling (band-limited, so a 44.1 or 48 kHz recording does not alias). CPU work: callers
run it off the event loop (`asyncio.to_thread`).
"""

import math

import numpy as np
from switchboard_protocol.wav import WavAudio, read_wav, write_wav

RATE = 16_000


def samples(audio: WavAudio) -> np.ndarray:
    """The audio as float64 in [-1, 1], one row per frame, one column per channel."""
    raw = np.frombuffer(audio.data, dtype=np.uint8)
    if audio.encoding == "float":
        values = np.frombuffer(audio.data, dtype="<f4" if audio.width == 4 else "<f8")
        flat = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
    elif audio.width == 1:
        flat = (raw.astype(np.float64) - 128.0) / 128.0
    elif audio.width == 3:
        triples = raw.reshape(-1, 3).astype(np.int32)
        value = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        flat = np.where(value >= 1 << 23, value - (1 << 24), value) / float(1 << 23)
    else:
        kind = "<i2" if audio.width == 2 else "<i4"
        flat = np.frombuffer(audio.data, dtype=kind) / float(1 << (8 * audio.width - 1))
    return np.clip(flat, -1.0, 1.0).reshape(-1, audio.channels)


def resample(mono: np.ndarray, rate: int, target: int = RATE) -> np.ndarray:
    """`mono` at `target` Hz (its spectrum cut or padded: band-limited resampling). The input
    is padded with silence to a length whose FFTs are fast (2, 3, 5 and 7 its only factors
    besides the rates' own), then the output is cut back to its true length."""
    if rate == target or len(mono) == 0:
        return mono
    count = max(1, round(len(mono) * target / rate))
    common = math.gcd(rate, target)
    step_in, step_out = rate // common, target // common
    blocks = _smooth(-(-len(mono) // step_in))
    padded = np.pad(mono, (0, blocks * step_in - len(mono)))
    size = blocks * step_out
    spectrum = np.fft.rfft(padded)
    keep = size // 2 + 1
    spectrum = (
        spectrum[:keep] if len(spectrum) >= keep else np.pad(spectrum, (0, keep - len(spectrum)))
    )
    return (np.fft.irfft(spectrum, size) * (size / len(padded)))[:count]


def _smooth(n: int) -> int:
    """The smallest number >= n with no prime factor above 7."""
    while True:
        rest = n
        for prime in (2, 3, 5, 7):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return n
        n += 1


def to_pcm16k(audio: WavAudio) -> bytes:
    """16 kHz mono 16-bit little-endian PCM of `audio`."""
    mono = samples(audio).mean(axis=1)
    scaled = np.clip(resample(mono, audio.rate) * 32767.0, -32768, 32767)
    return scaled.astype("<i2").tobytes()


def normalized_wav(wav: bytes) -> bytes:
    """`wav` as a 16 kHz mono 16-bit WAV file with true sizes (BadWav/NotWav when unreadable)."""
    return write_wav(to_pcm16k(read_wav(wav)), RATE)
