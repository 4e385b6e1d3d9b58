"""Decoding uploads: every audio format of the contract (real files made with PyAV), images, and the errors."""

import io

import numpy as np
import pytest
from PIL import Image

from model_worker.errors import BadRequest, UnprocessableMedia, UnsupportedMediaType
from model_worker.media import (
    PDF_RENDER_LONG_SIDE,
    check_audio_type,
    decode_audio,
    decode_image,
    pdf_render_scale,
)
from tests.worker.media_samples import AUDIO_FORMATS, encode_audio, form_image, image_bytes


@pytest.mark.parametrize("name", list(AUDIO_FORMATS))
def test_every_contract_audio_format_decodes_to_16k_mono(name):
    data = encode_audio(name, seconds=1.5)
    _, _, rate, mime, extension = AUDIO_FORMATS[name]
    assert rate in (44100, 48000)
    check_audio_type(mime, f"clip.{extension}", data)
    decoded = decode_audio(data, max_seconds=120)
    assert decoded.sample_rate == 16000
    assert decoded.samples.ndim == 1 and decoded.samples.dtype == np.float32
    assert decoded.duration_s == pytest.approx(1.5, abs=0.06)
    assert decoded.samples.size == pytest.approx(1.5 * 16000, abs=0.06 * 16000)
    # The tone survives (not silence, not clipped garbage): a 440 Hz peak in the spectrum.
    spectrum = np.abs(np.fft.rfft(decoded.samples[:16000]))
    assert abs(np.argmax(spectrum) - 440) <= 3


def test_mono_input_decodes_too():
    decoded = decode_audio(encode_audio("wav", seconds=1.0, channels=1), max_seconds=120)
    assert decoded.duration_s == pytest.approx(1.0, abs=0.01)


def test_too_long_audio_is_400():
    with pytest.raises(BadRequest, match="limit"):
        decode_audio(encode_audio("ogg_opus", seconds=4.0), max_seconds=2.5)


def test_empty_audio_is_400():
    with pytest.raises(BadRequest, match="empty"):
        decode_audio(b"", max_seconds=120)


@pytest.mark.parametrize(
    "data",
    [
        b"RIFF\x00\x00\x00\x00WAVEfmt garbage garbage garbage",
        b"\x00\x01\x02\x03" * 500,
        b"OggS" + bytes(range(256)) * 4,
    ],
)
def test_corrupt_audio_is_422(data):
    with pytest.raises(UnprocessableMedia):
        decode_audio(data, max_seconds=120)


def test_truncated_mp3_keeps_the_decodable_part_or_is_422():
    data = encode_audio("mp3", seconds=2.0)
    decoded = decode_audio(data[: len(data) // 2], max_seconds=120)
    assert 0.5 < decoded.duration_s < 1.6


@pytest.mark.parametrize(
    ("mime", "filename", "data"),
    [
        ("text/plain", "notes.txt", b"hello"),
        ("image/png", "form.png", b"\x89PNG\r\n\x1a\n"),
        ("application/octet-stream", "blob.bin", b"\x00" * 64),
    ],
)
def test_wrong_audio_type_is_415(mime, filename, data):
    with pytest.raises(UnsupportedMediaType):
        check_audio_type(mime, filename, data)


def test_generic_type_is_sniffed():
    check_audio_type("application/octet-stream", "recording", encode_audio("webm_opus"))


@pytest.mark.parametrize(("fmt", "kwargs"), [("PNG", {}), ("JPEG", {"quality": 85}), ("WEBP", {"quality": 80})])
def test_images_decode_with_their_own_size(fmt, kwargs):
    decoded = decode_image(image_bytes(form_image(640, 480), fmt, **kwargs), max_pixels=40_000_000)
    assert (decoded.width, decoded.height) == (640, 480)
    assert decoded.image.mode == "RGB"
    assert decoded.source_format == fmt


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = image_bytes(form_image(640, 480), "JPEG", exif=exif)
    decoded = decode_image(data, max_pixels=40_000_000)
    assert (decoded.width, decoded.height) == (480, 640)


def test_truncated_image_is_422():
    data = image_bytes(form_image(640, 480), "PNG")
    with pytest.raises(UnprocessableMedia):
        decode_image(data[: len(data) // 2], max_pixels=40_000_000)


def test_too_many_pixels_is_400():
    with pytest.raises(BadRequest, match="pixels"):
        decode_image(image_bytes(Image.new("RGB", (300, 200)), "PNG"), max_pixels=50_000)


@pytest.mark.parametrize("data", [b"GIF89a" + b"\x00" * 20, b"hello world", b"%!PS-Adobe-3.0\n"])
def test_other_types_are_415(data):
    with pytest.raises(UnsupportedMediaType):
        decode_image(data, max_pixels=40_000_000)


def test_empty_image_is_400():
    with pytest.raises(BadRequest):
        decode_image(b"", max_pixels=40_000_000)


def test_gif_is_rejected_even_when_named_png():
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "GIF")
    with pytest.raises(UnsupportedMediaType):
        decode_image(buffer.getvalue(), max_pixels=40_000_000)


def _pdf(width_pt: int, height_pt: int, pages: int = 1) -> bytes:
    images = [Image.new("RGB", (width_pt, height_pt), color) for color in ("white", "black", "red")[:pages]]
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", resolution=72.0, save_all=True, append_images=images[1:])
    return buffer.getvalue()


def test_pdf_first_page_is_rendered_with_a_2000_px_long_side():
    decoded = decode_image(_pdf(600, 900, pages=2), max_pixels=40_000_000)
    assert decoded.source_format == "PDF" and decoded.image.mode == "RGB"
    assert decoded.height == PDF_RENDER_LONG_SIDE and abs(decoded.width - PDF_RENDER_LONG_SIDE * 600 / 900) <= 1
    assert decoded.image.getpixel((decoded.width // 2, decoded.height // 2)) == (255, 255, 255)  # page 1, not 2


def test_pdf_render_stays_within_the_pixel_limit():
    decoded = decode_image(_pdf(1200, 800), max_pixels=500_000)
    assert decoded.width * decoded.height <= 500_000 and decoded.width > 800
    assert pdf_render_scale(1200, 800, 40_000_000) == pytest.approx(2000 / 1200)


@pytest.mark.parametrize("data", [b"%PDF-1.7\n...", b"%PDF-1.4\n" + bytes(500)], ids=["garbage", "zeros"])
def test_corrupt_pdf_is_422(data):
    with pytest.raises(UnprocessableMedia, match="PDF"):
        decode_image(data, max_pixels=40_000_000)


def test_truncated_pdf_is_422():
    data = _pdf(300, 200)
    with pytest.raises(UnprocessableMedia, match="PDF"):
        decode_image(data[: len(data) // 2], max_pixels=40_000_000)
