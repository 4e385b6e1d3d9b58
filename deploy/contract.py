"""What `test` sends to an endpoint and how it reads the answer: the worker's container contracts (docs/api.md).

- SageMaker `POST /invocations`: `{"inputs": "<base64>"}` (JSON);
- Vertex AI predict: `{"instances": [{"image_base64": "<base64>"}]}` -> `{"predictions": [<detection>]}`;
- Azure ML `POST /score`: `{"image_base64": "<base64>"}`;
- Cloud Run, the Omni route `POST /omni/feedback`: multipart/form-data with the recording in `audio`.

A detection is `{"bboxes": [{"bbox_pixel", "bbox_normalized"}], "count", "image_size", "model", "timings"}`; a
feedback is `{"feedback", "transcript", "model", "duration_s", "timings"}`.
"""

from __future__ import annotations

import base64
import io
import json
import math
import mimetypes
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.errors import DeployError

SAMPLES = Path(__file__).resolve().parent / "samples"
DEFAULT_DOCUMENT = SAMPLES / "form.png"


@dataclass(frozen=True)
class Media:
    data: bytes
    filename: str
    content_type: str


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise DeployError(f"Cannot read the sample {path}: {reason}; pass --sample with a readable file.") from None


def document(sample: str) -> Media:
    """The document image `test` sends: --sample, or the drawn application form shipped in deploy/samples."""
    path = Path(sample) if sample else DEFAULT_DOCUMENT
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Media(_read(path), path.name, content_type)


def tone_wav(seconds: float = 2.0, rate: int = 16000) -> bytes:
    """A mono 16 kHz WAV of a 220 Hz tone with a syllable-like 4 Hz envelope (the default audio sample)."""
    frames = bytearray()
    for index in range(int(seconds * rate)):
        t = index / rate
        envelope = 0.5 + 0.5 * math.sin(2 * math.pi * 4 * t)
        frames += struct.pack("<h", int(12000 * envelope * math.sin(2 * math.pi * 220 * t)))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return buffer.getvalue()


def recording(sample: str) -> Media:
    """The audio `test` sends to /omni/feedback: --sample (WAV, FLAC, OGG, WebM, MP3, M4A), or a generated tone."""
    if not sample:
        return Media(tone_wav(), "sample.wav", "audio/wav")
    path = Path(sample)
    return Media(_read(path), path.name, mimetypes.guess_type(path.name)[0] or "application/octet-stream")


def _b64(media: Media) -> str:
    return base64.b64encode(media.data).decode("ascii")


def sagemaker_body(image: Media) -> bytes:
    return json.dumps({"inputs": _b64(image)}).encode()


def vertex_instances(image: Media) -> list[dict[str, str]]:
    return [{"image_base64": _b64(image)}]


def azure_body(image: Media) -> dict[str, str]:
    return {"image_base64": _b64(image)}


def parse_json(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        shown = text[:200] if isinstance(text, str) else text[:200].decode("utf-8", "replace")
        raise DeployError(f"The {what} answered with something that is not JSON: {shown!r}.") from None


def whole_numbers(value: Any) -> Any:
    """`value` with integral floats as ints: Vertex AI's predictions pass through protobuf, where 12 becomes 12.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: whole_numbers(item) for key, item in value.items()}
    return value


def detection_lines(body: Any, latency_s: float) -> list[str]:
    """The boxes of a detection answer and the round trip's latency, one line each."""
    body = whole_numbers(body)
    if not isinstance(body, dict) or not isinstance(body.get("bboxes"), list):
        raise DeployError(f"The endpoint's answer is not a detection ({str(body)[:200]}); check its logs.")
    size = body.get("image_size") or {}
    lines = [
        f"{body.get('count', len(body['bboxes']))} field(s) on a {size.get('width')}x{size.get('height')} image "
        f"by {body.get('model')}; latency {latency_s * 1000:.0f} ms "
        f"(worker {body.get('timings', {}).get('total_ms', 'n/a')} ms)"
    ]
    for index, box in enumerate(body["bboxes"], 1):
        lines.append(f"  box {index}: pixels {box.get('bbox_pixel')} normalized {box.get('bbox_normalized')}")
    return lines


def feedback_lines(body: Any, latency_s: float) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), str):
        raise DeployError(f"The service's answer is not a feedback ({str(body)[:200]}); check its logs.")
    lines = [
        f"feedback by {body.get('model')} on {body.get('duration_s')} s of audio; latency {latency_s * 1000:.0f} ms",
        f"  feedback: {body['feedback']}",
    ]
    if body.get("transcript"):
        lines.append(f"  transcript: {body['transcript']}")
    return lines
