"""Media sniffing at the edge: file kinds, image sizes from headers, WAV durations."""

from __future__ import annotations

import pytest

from llm_api.sniffing import MediaError, image_size, sniff_audio, sniff_image, wav_duration_s
from tests.llm_api.media_samples import image_bytes, png_header, wav_bytes


@pytest.mark.parametrize(("fmt", "kind"), [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp")])
def test_image_kind_and_size(fmt, kind):
    data = image_bytes(fmt, (123, 45))
    assert sniff_image(data) == kind
    assert image_size(kind, data) == (123, 45)


def test_lossless_webp_and_png_header_sizes():
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (300, 7)).save(buffer, format="WEBP", lossless=True)
    assert image_size("webp", buffer.getvalue()) == (300, 7)
    assert image_size("png", png_header(10_000, 5_000)) == (10_000, 5_000)


def test_pdf_and_unknown():
    assert sniff_image(b"%PDF-1.7\n...") == "pdf"
    assert sniff_image(b"GIF89a....") is None


def test_truncated_headers_raise():
    with pytest.raises(MediaError):
        image_size("jpeg", b"\xff\xd8\xff\xe0\x00")
    with pytest.raises(MediaError):
        image_size("png", b"\x89PNG\r\n\x1a\n\x00\x00")


@pytest.mark.parametrize(("data", "kind"), [
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"), (b"fLaC\x00", "flac"), (b"OggS\x00", "ogg"),
    (b"\x1a\x45\xdf\xa3\x01", "webm"), (b"\x00\x00\x00\x20ftypM4A ", "mp4"), (b"ID3\x04", "mp3"),
    (b"\xff\xfb\x90\x00", "mp3"), (b"hello", None),
])
def test_audio_kinds(data, kind):
    assert sniff_audio(data) == kind


def test_wav_duration():
    assert wav_duration_s(wav_bytes(2.5)) == pytest.approx(2.5)
    assert wav_duration_s(b"RIFF\x00\x00\x00\x00WAVE") is None
