"""WAV reading (`switchboard_protocol.wav`) and conversion to 16 kHz mono (the worker's pcm.py):
every PCM/float shape is read, a streaming header's true length comes from its bytes, and
anything else is refused with the problem named."""

import struct

import numpy as np
import pytest
from switchboard_orchestrator.pcm import RATE, to_pcm16k
from switchboard_protocol.wav import PLACEHOLDER_MIN, BadWav, NotWav, read_wav, write_wav


def wav_file(data: bytes, *, tag=1, channels=1, rate=16000, bits=16, size=None, extensible=False):
    """A WAV file with the given fmt fields; `size` overrides the data chunk's declared size."""
    align = channels * bits // 8
    fmt = struct.pack(
        "<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * align, align, bits
    )
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + bytes(14)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data) if size is None else size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tone(rate: int, seconds: float = 0.5) -> np.ndarray:
    return np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate) * 0.5


@pytest.mark.parametrize(
    ("encode", "tag", "bits"),
    [
        (lambda x: ((x * 127) + 128).astype(np.uint8).tobytes(), 1, 8),
        (lambda x: (x * 32767).astype("<i2").tobytes(), 1, 16),
        (
            lambda x: b"".join(int(v).to_bytes(3, "little", signed=True) for v in x * 8_388_607),
            1,
            24,
        ),
        (lambda x: (x * 2_147_483_647).astype("<i4").tobytes(), 1, 32),
        (lambda x: x.astype("<f4").tobytes(), 3, 32),
        (lambda x: x.astype("<f8").tobytes(), 3, 64),
    ],
)
@pytest.mark.parametrize("extensible", [False, True])
def test_every_pcm_and_float_shape_becomes_16_khz_mono(encode, tag, bits, extensible):
    stereo = np.repeat(tone(44100), 2)  # the same tone on both channels
    wav = wav_file(
        encode(stereo), tag=tag, channels=2, rate=44100, bits=bits, extensible=extensible
    )

    audio = read_wav(wav)
    assert (audio.channels, audio.rate, audio.width) == (2, 44100, bits // 8)
    pcm = np.frombuffer(to_pcm16k(audio), dtype="<i2")
    assert len(pcm) == RATE // 2
    peak = np.argmax(np.abs(np.fft.rfft(pcm))) * RATE / len(pcm)
    assert peak == 440 and 0.4 < np.abs(pcm).max() / 32767 < 0.6


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF, PLACEHOLDER_MIN, 0x7FFFF000])
def test_a_streaming_header_is_read_to_the_end_of_the_bytes(size):
    data = bytes(2 * 8000 * 3 + 1)  # three seconds at 8 kHz, and half a frame
    audio = read_wav(wav_file(data, rate=8000, size=size))
    assert audio.streaming and audio.duration_s == 3.0


def test_a_written_wav_has_its_true_sizes():
    audio = read_wav(write_wav(bytes(3200), 16000))
    assert not audio.streaming and audio.duration_s == 0.1


@pytest.mark.parametrize(
    ("wav", "problem"),
    [
        (wav_file(bytes(1000), size=2000), "truncated: the data chunk declares 2000 bytes, 1000"),
        (wav_file(bytes(1000))[:30], "truncated"),
        (b"RIFF\x04\x00\x00\x00WAVE", "no fmt chunk"),
        (b"RIFF\x0c\x00\x00\x00WAVEdata\x00\x00\x00\x00", "data chunk comes before any fmt"),
        (wav_file(b""), "no audio"),
        (wav_file(bytes(100), bits=12), "12-bit"),
        (wav_file(bytes(100), channels=0), "0 channels"),
        (wav_file(bytes(100), rate=0), "sample rate 0"),
        (wav_file(bytes(100), tag=3, bits=16), "16-bit"),
    ],
)
def test_a_corrupt_or_truncated_wav_names_its_problem(wav, problem):
    with pytest.raises(BadWav, match=problem):
        read_wav(wav)


@pytest.mark.parametrize(
    "data",
    [
        b"ID3\x04" + bytes(100),  # mp3
        b"OggS" + bytes(100),
        b"fLaC" + bytes(100),
        b"RIFF\x00\x00\x00\x00AVI LIST",
        wav_file(bytes(100), tag=0x0055, bits=16),  # an MP3-in-WAV encoding
        wav_file(bytes(100), tag=0x0002, bits=16, extensible=True),  # ADPCM
    ],
)
def test_other_formats_are_not_wav(data):
    with pytest.raises(NotWav):
        read_wav(data)
