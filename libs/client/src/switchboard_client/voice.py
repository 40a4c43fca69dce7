"""Voice helpers: send an utterance, and join a reply's `tts` chunks into one WAV file."""

import base64
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from switchboard_protocol.wav import read_wav, write_wav

if TYPE_CHECKING:
    from .client import SwitchboardClient


async def send_audio(
    client: "SwitchboardClient", session_id: str, wav: bytes, client_id: str | None = None
) -> dict[str, Any]:
    """POST a WAV utterance to a voice session: 202 `{"message_id", "run_id"}`. `stt` events
    (partial, then final) and the run of the transcript follow on the session's stream. Like
    `send_message`, it first opens this client's streams of the session. Raises `ApiError`:
    415 not a WAV file, 422 `bad_audio` (corrupt or truncated), 409 `not_voice_session`."""
    streams = await client._open_streams(session_id)
    client_id = client_id or next((s.client_id for s in streams), None)
    headers = {"Content-Type": "audio/wav", **({"X-Client-Id": client_id} if client_id else {})}
    path = f"/ai/sessions/{session_id}/audio"
    return dict(await client.rest.json("POST", path, content=wav, headers=headers))


def join_tts(chunks: Iterable[Any]) -> bytes:
    """One WAV file of a reply's `tts` chunks, in `chunk` order. Takes `tts` events, their
    `data`, or plain dicts `{"audio", "chunk", ...}`; every chunk must share one PCM format
    (the server sends 16 kHz mono 16-bit). ValueError when a chunk is not such a WAV file."""
    datas = sorted((_data(chunk) for chunk in chunks), key=lambda d: int(d["chunk"]))
    if not datas:
        raise ValueError("no tts chunks to join")
    parts = [read_wav(base64.b64decode(d["audio"])) for d in datas]
    first = parts[0]
    shape = (first.encoding, first.rate, first.channels, first.width)
    for number, part in zip((d["chunk"] for d in datas), parts, strict=True):
        if (part.encoding, part.rate, part.channels, part.width) != shape or part.encoding != "pcm":
            raise ValueError(f"tts chunk {number} is not PCM in the format of chunk 0")
    pcm = b"".join(part.data for part in parts)
    return write_wav(pcm, first.rate, channels=first.channels, width=first.width)


def _data(item: Any) -> dict[str, Any]:
    data = item.get("data", item) if isinstance(item, dict) else getattr(item, "data", item)
    if isinstance(data, dict):
        return data
    return {"audio": data.audio, "chunk": data.chunk}
