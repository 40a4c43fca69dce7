"""Real speech for the voice tests: espeak-ng speaks, pocketsphinx listens (no fakes).

Sentences are mostly digits and plain words, which pocketsphinx's English model hears in
espeak-ng's voice; a test asks for a few of the spoken words back, never all of them.
"""

import asyncio
import struct
import subprocess

import numpy as np
from switchboard_orchestrator.pcm import resample, samples, to_pcm16k
from switchboard_orchestrator.stt import PocketSphinx
from switchboard_protocol.wav import read_wav

SENTENCE = "one two three four five six seven eight nine"
SENTENCE_WORDS = set(SENTENCE.split())


def espeak_wav(text: str) -> bytes:
    """`espeak-ng --stdout` saying `text`: 22 050 Hz mono 16-bit, with a streaming header."""
    done = subprocess.run(
        ["espeak-ng", "--stdout", "-v", "en-us"],
        input=text.encode(),
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def float_stereo(wav: bytes, rate: int) -> bytes:
    """`wav` again as 32-bit float stereo at `rate` Hz (WAVE_FORMAT_IEEE_FLOAT), a shape far
    from the 16 kHz mono 16-bit the recogniser takes."""
    audio = read_wav(wav)
    mono = resample(samples(audio).mean(axis=1), audio.rate, rate)
    data = np.repeat(mono, 2).astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 2, rate, rate * 8, 8, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data"
    body += struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def data_size(wav: bytes) -> int:
    """The size the header's data chunk declares (espeak-ng: a placeholder near 2 GiB)."""
    position = wav.index(b"data")
    return int(struct.unpack("<I", wav[position + 4 : position + 8])[0])


async def hear(wav: bytes) -> str:
    """What pocketsphinx (the worker's engine, default settings) hears in `wav`."""
    pcm = await asyncio.to_thread(to_pcm16k, read_wav(wav))
    heard = [h async for h in PocketSphinx(1).transcribe(pcm)]
    return heard[-1].text


def heard_words(text: str) -> set[str]:
    return set(text.lower().split()) & SENTENCE_WORDS
