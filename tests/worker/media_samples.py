"""Real media files generated in the tests: audio in every container/codec of the contract (PyAV), form images."""

from __future__ import annotations

import io

import av
import numpy as np
from PIL import Image, ImageDraw

# name -> (container format, codec, sample rate, mime type, file extension)
AUDIO_FORMATS = {
    "wav": ("wav", "pcm_s16le", 44100, "audio/wav", "wav"),
    "flac": ("flac", "flac", 48000, "audio/flac", "flac"),
    "ogg_opus": ("ogg", "libopus", 48000, "audio/ogg", "ogg"),
    "webm_opus": ("webm", "libopus", 48000, "audio/webm", "webm"),
    "mp3": ("mp3", "libmp3lame", 44100, "audio/mpeg", "mp3"),
    "m4a_aac": ("ipod", "aac", 44100, "audio/mp4", "m4a"),
}


def tone(seconds: float, rate: int, channels: int = 2) -> np.ndarray:
    """A 440 Hz tone with a 3 Hz tremolo, shape (channels, samples), float32 in -0.5..0.5."""
    t = np.arange(int(seconds * rate)) / rate
    signal = 0.4 * np.sin(2 * np.pi * 440 * t) * (0.75 + 0.25 * np.sin(2 * np.pi * 3 * t))
    return np.stack([signal] * channels).astype(np.float32)


def encode_audio(name: str, seconds: float = 1.5, channels: int = 2) -> bytes:
    """`seconds` of stereo tone encoded as `name` (a key of AUDIO_FORMATS) at its native sample rate."""
    container_format, codec, rate, _, _ = AUDIO_FORMATS[name]
    layout = "stereo" if channels == 2 else "mono"
    data = tone(seconds, rate, channels)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, data.shape[1], frame_size):
            chunk = np.ascontiguousarray(data[:, start:start + frame_size])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def form_image(width: int = 1400, height: int = 900) -> Image.Image:
    """A drawn application form: a title, labelled boxes to fill in, and a staff-only stamp area."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([40, 30, width - 40, 90], outline="black", width=3)
    for row in range(4):
        top = 140 + row * 150
        draw.text((60, top + 20), f"Field {row + 1}", fill="black")
        draw.rectangle([260, top, width // 2 + 200, top + 80], outline="black", width=2)
    draw.rectangle([width - 300, height - 220, width - 60, height - 60], outline="red", width=4)
    return image


def image_bytes(image: Image.Image, fmt: str = "PNG", **save_kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save_kwargs)
    return buffer.getvalue()
