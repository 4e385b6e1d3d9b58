"""Media decoding at the edge: uploaded audio to 16 kHz mono float32 (PyAV), uploaded images to RGB (Pillow), and
a PDF's first page rendered to RGB (pypdfium2, PDFium inside the wheel).

Every failure is one of the contract's errors: an empty file is 400, a type the worker does not take is 415, a file
that claims a type but does not decode is 422, a file over its duration, pixel or aspect-ratio limit is 400.

Hostile files stay bounded (tests/worker/test_upload_abuse.py): a raster image's size is checked from its header
before it is decoded, a JPEG with more progressive scans than any encoder writes is refused before libjpeg spends
minutes on it, and a PDF is rendered in a child process with a time and memory budget, since a few KiB of nested
form XObjects can keep PDFium busy for minutes and gigabytes.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import resource
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import av
import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import BY_STATUS, ApiError, BadRequest, UnprocessableMedia, UnsupportedMediaType

log = logging.getLogger(__name__)

TARGET_SAMPLE_RATE = 16_000

# What the worker accepts. The llm-api checks uploads against the same lists before they reach the worker
# (`llm-api/llm_api/sniffing.py`); the services are separate images, so each holds its copy, and
# tests/llm_api/test_media_types.py fails when the two differ.
AUDIO_MIME_TYPES = frozenset({
    "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/flac", "audio/x-flac", "audio/ogg",
    "audio/opus", "application/ogg", "audio/webm", "video/webm", "audio/mpeg", "audio/mp3", "audio/mp4",
    "audio/x-m4a", "audio/m4a", "audio/aac", "audio/x-aac", "video/mp4",
})
AUDIO_EXTENSIONS = frozenset({"wav", "wave", "flac", "ogg", "oga", "opus", "webm", "mp3", "m4a", "mp4", "aac"})
IMAGE_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/jpg", "image/pjpeg", "image/webp", "application/pdf"})
# Declared types that say nothing: the bytes decide.
GENERIC_MIME_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
AUDIO_FORMATS_TEXT = "WAV, FLAC, OGG/Opus, WebM/Opus, MP3 or M4A/AAC"
IMAGE_FORMATS_TEXT = "a PNG, JPEG or WebP image or a PDF"

# The detector's vision processor (Qwen-VL) refuses images more elongated than 200:1, and its downscaling rounds the
# short side; at most 100:1 as uploaded stays under 200:1 after any resize. The llm-api holds the same limit.
MAX_ASPECT_RATIO = 100
# Encoders write at most a few dozen scans (libjpeg's progressive default: 10); each scan makes libjpeg walk every
# block of the image again, so a file of tiny scans keeps it busy for minutes. The llm-api holds the same limit.
MAX_JPEG_SCANS = 100
# A PDF's first page is rendered with its long side at this many pixels (about 170 dpi for A4, enough for form
# text), or fewer when that would exceed the pixel limit.
PDF_RENDER_LONG_SIDE = 2000
# Each render runs in a child process (PDFium is not thread-safe, and has no bound of its own on time or memory),
# with this much wall time and this much address space beyond what its imports take; one at a time per process.
PDF_RENDER_TIMEOUT_S = 10.0
PDF_RENDER_MEMORY_BYTES = 1024 * 1024 * 1024
_PDF_RENDERS = threading.Lock()
_PDF_CHILD = "from model_worker.media import _pdf_render_child; _pdf_render_child()"


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono, TARGET_SAMPLE_RATE
    sample_rate: int
    duration_s: float
    source_format: str
    decode_ms: float


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image  # RGB, EXIF orientation applied
    width: int
    height: int
    source_format: str
    decode_ms: float


def base_type(content_type: str | None) -> str:
    """`audio/webm;codecs=opus` -> `audio/webm`: parameters never decide acceptance."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def sniff_audio(data: bytes) -> str | None:
    """The container of an audio file from its magic bytes, or None (the llm-api's sniffer reads the same table)."""
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
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):  # MPEG / ADTS sync
        return "mp3"
    return None


def audio_type_accepted(content_type: str | None, filename: str | None, data: bytes) -> bool:
    """Declared audio (type or extension), or declared nothing and recognisable as audio by its first bytes."""
    mime = base_type(content_type)
    extension = filename.rsplit(".", 1)[-1].lower() if filename and "." in filename else ""
    if mime in AUDIO_MIME_TYPES or extension in AUDIO_EXTENSIONS:
        return True
    return mime in GENERIC_MIME_TYPES and sniff_audio(data) is not None


def _shown(declared: str) -> str:
    """A declared type as a message quotes it: cut short, since a client may send megabytes of it."""
    return repr(declared if len(declared) <= 64 else declared[:64] + "…")


def check_audio_type(content_type: str | None, filename: str | None, data: bytes) -> None:
    """415 unless the upload is audio the worker decodes (`audio_type_accepted`)."""
    if not audio_type_accepted(content_type, filename, data):
        mime = base_type(content_type)
        raise UnsupportedMediaType(
            f"The audio type {_shown(mime or 'unknown')} is not supported; send {AUDIO_FORMATS_TEXT}."
        )


def check_image_type(content_type: str | None, data: bytes) -> None:
    """The declared type of an uploaded image: 415 for a type the worker does not take, 422 for a file that claims
    an image type its bytes are not. Empty files are left to `decode_image` (400)."""
    mime = base_type(content_type)
    if mime not in GENERIC_MIME_TYPES and mime not in IMAGE_MIME_TYPES:
        raise UnsupportedMediaType(f"The image type {_shown(mime)} is not supported; send {IMAGE_FORMATS_TEXT}.")
    if data and mime in IMAGE_MIME_TYPES and sniff_image_format(data) is None:
        raise UnprocessableMedia(f"The file claims to be {mime!r} but is not; send {IMAGE_FORMATS_TEXT}.")


def _too_long(max_seconds: float) -> str:
    return f"The audio is longer than the limit of {max_seconds:g} s; send a shorter recording."


def _too_many_pixels(pixels: int | None, max_pixels: int) -> str:
    size = "more pixels than" if pixels is None else f"{pixels} pixels, over"
    return f"The image has {size} the limit of {max_pixels}; send a smaller image."


def decode_audio(data: bytes, max_seconds: float) -> DecodedAudio:
    """Decode any container/codec FFmpeg (inside PyAV) knows, downmixed and resampled to 16 kHz mono float32."""
    started = time.perf_counter()
    if not data:
        raise BadRequest("The audio file is empty; send a recording with sound in it.")
    max_samples = int(max_seconds * TARGET_SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise UnprocessableMedia(f"The file has no audio stream; send {AUDIO_FORMATS_TEXT} audio.")
            if container.duration is not None and container.duration / av.time_base > max_seconds + 1:
                raise BadRequest(
                    f"The audio is {container.duration / av.time_base:.1f} s long, over the limit of "
                    f"{max_seconds:g} s; send a shorter recording."
                )
            stream = container.streams.audio[0]
            if stream.codec_context is None:  # a codec FFmpeg has no decoder for (a WAV's unknown format tag)
                raise UnprocessableMedia(f"The audio codec cannot be decoded; send {AUDIO_FORMATS_TEXT} audio.")
            source_format = f"{container.format.name}/{stream.codec_context.name}"
            resampler = av.AudioResampler(format="flt", layout="mono", rate=TARGET_SAMPLE_RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    total += chunk.size
                if total > max_samples:
                    raise BadRequest(_too_long(max_seconds))
            for out in resampler.resample(None):
                chunk = out.to_ndarray().reshape(-1)
                chunks.append(chunk)
                total += chunk.size
    except (av.FFmpegError, ValueError, IndexError, EOFError) as exc:
        raise UnprocessableMedia(
            f"The audio file could not be decoded ({type(exc).__name__}); send an intact {AUDIO_FORMATS_TEXT} file."
        ) from None
    if total == 0:
        raise UnprocessableMedia("The audio file contains no audio samples; send a recording with sound in it.")
    if total > max_samples:
        raise BadRequest(_too_long(max_seconds))
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    return DecodedAudio(
        samples=samples, sample_rate=TARGET_SAMPLE_RATE, duration_s=round(total / TARGET_SAMPLE_RATE, 3),
        source_format=source_format, decode_ms=(time.perf_counter() - started) * 1000,
    )



def sniff_image_format(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith(b"%PDF-"):
        return "PDF"
    return None


def decode_image(data: bytes, max_pixels: int) -> DecodedImage:
    """PNG, JPEG or WebP to RGB with the EXIF orientation applied; the size reported is the upright upload's.

    A PDF's first page is rendered (`render_pdf_first_page`); its size is then the rendered page's, so boxes in
    pixels refer to that rendering."""
    started = time.perf_counter()
    if not data:
        raise BadRequest(f"The image file is empty; send {IMAGE_FORMATS_TEXT}.")
    fmt = sniff_image_format(data)
    if fmt is None:
        raise UnsupportedMediaType(f"This file type is not supported; send {IMAGE_FORMATS_TEXT}.")
    image = render_pdf_first_page(data, max_pixels) if fmt == "PDF" else _decode_raster(data, fmt, max_pixels)
    _check_aspect_ratio(image.width, image.height)
    return DecodedImage(
        image=image, width=image.width, height=image.height, source_format=fmt,
        decode_ms=(time.perf_counter() - started) * 1000,
    )


def _check_aspect_ratio(width: int, height: int) -> None:
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise BadRequest(f"The image is {width}x{height} pixels, more elongated than {MAX_ASPECT_RATIO}:1; "
                         "send the form itself.")


def _decode_raster(data: bytes, fmt: str, max_pixels: int) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data), formats=[fmt])
        width, height = image.size
        if width * height > max_pixels:
            raise BadRequest(_too_many_pixels(width * height, max_pixels))
        _check_aspect_ratio(width, height)
        # FF DA starts a scan; entropy-coded data never holds it (an FF there is followed by 00), so this counts the
        # scans, and the rare ones inside metadata (an EXIF thumbnail's) only make it an upper bound.
        scans = data.count(b"\xff\xda") if fmt == "JPEG" else 0
        if scans > MAX_JPEG_SCANS:
            raise UnprocessableMedia(f"The JPEG image has {scans} scans, more than the {MAX_JPEG_SCANS} any encoder "
                                     "writes; send it re-saved, or as a PNG.")
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # in place: a 40-megapixel image is not copied twice
        return image if image.mode == "RGB" else image.convert("RGB")
    except Image.DecompressionBombError:
        raise BadRequest(_too_many_pixels(None, max_pixels)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = f"not a readable {fmt} file" if isinstance(exc, UnidentifiedImageError) else exc  # not its repr
        raise UnprocessableMedia(f"The {fmt} image could not be decoded ({reason}); send an intact file.") from None


def pdf_render_scale(width_pt: float, height_pt: float, max_pixels: int) -> float:
    """Pixels per PDF point: the long side at PDF_RENDER_LONG_SIDE pixels, lowered to stay within `max_pixels`."""
    scale = PDF_RENDER_LONG_SIDE / max(width_pt, height_pt)
    if (width_pt * scale) * (height_pt * scale) > max_pixels:
        scale = math.sqrt(max_pixels / (width_pt * height_pt)) * 0.999
    return scale


def render_pdf_first_page(data: bytes, max_pixels: int, timeout_s: float = PDF_RENDER_TIMEOUT_S) -> Image.Image:
    """The first page of a PDF as an RGB image (page rotation applied), long side PDF_RENDER_LONG_SIDE pixels at
    most; a PDF that PDFium cannot open, one without pages, and one that takes longer than `timeout_s` or more than
    PDF_RENDER_MEMORY_BYTES to render are 422. Rendered in a child process (`_pdf_render_child`)."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    command = [sys.executable, "-c", _PDF_CHILD, str(max_pixels), str(PDF_RENDER_MEMORY_BYTES), str(timeout_s)]
    with _PDF_RENDERS:
        try:
            child = subprocess.run(command, input=data, capture_output=True, env=env, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise UnprocessableMedia(f"The PDF's first page takes longer than {timeout_s:g} s to render; send the page "
                                     "as an image.") from None
    if child.returncode != 0 or len(child.stdout) < 8:
        raise _pdf_child_error(child.returncode, child.stderr)
    width, height = struct.unpack(">II", child.stdout[:8])
    if len(child.stdout) != 8 + width * height * 3:
        raise _pdf_child_error(child.returncode, child.stderr)
    return Image.frombytes("RGB", (width, height), child.stdout[8:])


def _pdf_child_error(returncode: int, stderr: bytes) -> ApiError:
    """The child's own refusal (a JSON line on stderr), or 422 for one that died (out of its memory, killed)."""
    last = (stderr.decode("utf-8", "replace").strip().splitlines() or [""])[-1]
    try:
        refusal = json.loads(last)
        return BY_STATUS[int(refusal["status"])](str(refusal["message"]))
    except (ValueError, LookupError, TypeError):
        log.warning("PDF render failed (status %d): %s", returncode, last[:300])
        return UnprocessableMedia("The PDF's first page could not be rendered within the renderer's limits "
                                  f"({PDF_RENDER_MEMORY_BYTES >> 20} MiB of memory); send the page as an image.")


def _pdf_render_child() -> None:
    """The child process of `render_pdf_first_page`: limits its own address space and CPU time, reads the PDF on
    stdin, and writes width, height (big-endian uint32) and the RGB pixels on stdout, or a refusal on stderr."""
    max_pixels, memory, timeout_s = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    try:
        with open("/proc/self/statm") as statm:  # what the imports already mapped: the budget is PDFium's
            mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _lower_limit(resource.RLIMIT_AS, mapped + memory)
    except OSError:  # no /proc: the time limit still holds
        pass
    _lower_limit(resource.RLIMIT_CPU, math.ceil(timeout_s) + 1)
    try:
        image = _render_first_page(sys.stdin.buffer.read(), max_pixels)
    except ApiError as err:
        sys.stderr.write(json.dumps({"status": err.status, "message": err.message}) + "\n")
        sys.exit(3)
    sys.stdout.buffer.write(struct.pack(">II", image.width, image.height) + image.tobytes())


def _lower_limit(kind: int, value: int) -> None:
    """The soft limit of `kind` lowered to `value` (never raised above the hard limit)."""
    _, hard = resource.getrlimit(kind)
    resource.setrlimit(kind, (value if hard == resource.RLIM_INFINITY else min(value, hard), hard))


def _render_first_page(data: bytes, max_pixels: int) -> Image.Image:
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise UnprocessableMedia(f"The PDF could not be opened ({exc}); send an intact PDF.") from None
    try:
        if len(pdf) == 0:
            raise UnprocessableMedia("The PDF has no pages; send one with the form on page 1.")
        page = pdf[0]
        try:
            width_pt, height_pt = page.get_size()
            if width_pt <= 0 or height_pt <= 0:
                raise UnprocessableMedia("The PDF's first page has no size; send one with the form on page 1.")
            bitmap = page.render(scale=pdf_render_scale(width_pt, height_pt, max_pixels))
            try:
                image = bitmap.to_pil().convert("RGB")
            finally:
                bitmap.close()
        finally:
            page.close()
    except pdfium.PdfiumError as exc:
        raise UnprocessableMedia(
            f"The PDF's first page could not be rendered ({exc}); send an intact PDF, or the page as an image."
        ) from None
    finally:
        pdf.close()
    if image.width * image.height > max_pixels:
        raise BadRequest(_too_many_pixels(image.width * image.height, max_pixels))
    return image
