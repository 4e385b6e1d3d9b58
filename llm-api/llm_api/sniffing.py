"""Byte sniffing of uploads at the edge, before anything goes to the worker: which media types are accepted, what a
file is (from its first bytes), an image's pixel size and a WAV's duration. Decoding proper is the worker's job.

The accepted types are the model-worker's (`model-worker/model_worker/media.py`): the services are separate images,
so each holds its copy, and tests/llm_api/test_media_types.py fails when the two differ."""

from __future__ import annotations

import struct

AUDIO_TYPES = frozenset({
    "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/flac", "audio/x-flac", "audio/ogg",
    "audio/opus", "application/ogg", "audio/webm", "video/webm", "audio/mpeg", "audio/mp3", "audio/mp4",
    "audio/x-m4a", "audio/m4a", "audio/aac", "audio/x-aac", "video/mp4",
})
AUDIO_EXTENSIONS = frozenset({"wav", "wave", "flac", "ogg", "oga", "opus", "webm", "mp3", "m4a", "mp4", "aac"})
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/jpg", "image/pjpeg", "image/webp", "application/pdf"})
# Declared types that say nothing: the bytes decide.
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
AUDIO_FORMATS_TEXT = "WAV, FLAC, OGG/Opus, WebM/Opus, MP3 or M4A/AAC"
IMAGE_FORMATS_TEXT = "a PNG, JPEG or WebP image or a PDF"
# The model-worker's limits on an image's shape and a JPEG's scans (model_worker/media.py says why).
MAX_ASPECT_RATIO = 100
MAX_JPEG_SCANS = 100


class MediaError(ValueError):
    """The bytes are not what they claim to be (or cannot be measured)."""


def base_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def sniff_audio(data: bytes) -> str | None:
    """The container of an audio file from its magic bytes, or None (the model-worker's sniffer reads the same
    table)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if data[4:8] == b"ftyp":
        return "mp4"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def audio_type_accepted(content_type: str | None, filename: str | None, data: bytes) -> bool:
    """Declared audio (type or extension), or declared nothing and recognisable as audio by its first bytes: the
    model-worker's rule, so what passes here is never refused there for its type."""
    declared = base_type(content_type)
    extension = filename.rsplit(".", 1)[-1].lower() if filename and "." in filename else ""
    if declared in AUDIO_TYPES or extension in AUDIO_EXTENSIONS:
        return True
    return declared in GENERIC_TYPES and sniff_audio(data) is not None


def wav_duration_s(data: bytes) -> float | None:
    """Duration of a PCM WAV from its header and the bytes there are (None if the header cannot be read): a data
    size over what the file holds, or 0 or 0xFFFFFFFF ("unknown", what a recorder that cannot seek back writes), is
    measured to the end of the file, as FFmpeg reads it."""
    pos, byte_rate = 12, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = pos + 8
        if chunk_id == b"fmt " and size >= 16 and body + 12 <= len(data):
            byte_rate = struct.unpack("<I", data[body + 8:body + 12])[0]
        elif chunk_id == b"data":
            if not byte_rate:
                return None
            available = len(data) - body
            return (min(size, available) if size else available) / byte_rate
        pos = body + size + (size & 1)
    return None


def sniff_image(data: bytes) -> str | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:5] == b"%PDF-":
        return "pdf"
    return None


def image_size(kind: str, data: bytes) -> tuple[int, int]:
    """(width, height) from the image header; raises MediaError when the header is unreadable."""
    try:
        if kind == "png":
            if data[12:16] != b"IHDR":
                raise MediaError("PNG without IHDR")
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if kind == "jpeg":
            return _jpeg_size(data)
        if kind == "webp":
            return _webp_size(data)
    except struct.error:
        raise MediaError(f"truncated {kind} header") from None
    raise MediaError(f"no size for {kind}")


def jpeg_scans(data: bytes) -> int:
    """How many scans a JPEG holds, at most: FF DA starts one, and entropy-coded data never holds it (an FF there is
    followed by 00); the rare ones inside metadata (an EXIF thumbnail's) only make this an upper bound."""
    return data.count(b"\xff\xda")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise MediaError("bad JPEG marker")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    raise MediaError("JPEG without a frame header")


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        b0, b1, b2, b3 = data[21:25]
        return 1 + (b0 | (b1 & 0x3F) << 8), 1 + ((b1 >> 6) | b2 << 2 | (b3 & 0x0F) << 10)
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    raise MediaError("unknown WebP chunk")
