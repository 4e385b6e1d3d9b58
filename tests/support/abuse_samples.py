"""Hostile uploads for the upload-abuse tests of both services (issue 8): files that are tiny but claim or decode to
something huge, truncated and malformed media, files whose bytes contradict their declared type, and raw multipart
bodies no ordinary client would send (a thousand parts, megabyte field names, path-traversal and NUL filenames).

Everything here is built in memory from the standard library, Pillow and pypdfium2, in well under a second each;
the bigger builders are cached, so a module may call them freely. Two checks both test files make close the module:
`assert_contract_error` (the contract's JSON error) and `peak_rss` (a process's peak resident memory around a block,
from Linux's /proc).
"""

from __future__ import annotations

import contextlib
import functools
import io
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIB = 1024 * 1024


def zlib_zeros(size: int) -> bytes:
    """A zlib stream of `size` zero bytes (about 1000:1), built in milliseconds however large: one compressed MiB
    repeated (each ends in a full flush, so each is alike), then the rest and the checksum."""
    block = 1 << 20
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = deflate.compress(bytes(block)) + deflate.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(size, block)
    tail = deflate.compress(bytes(rest)) + deflate.flush()
    adler = (size % 65521) << 16 | 1  # Adler-32 of zeros: a stays 1, b adds it once a byte
    return b"\x78\xda" + chunk * full + tail + struct.pack(">I", adler)


# -- images ------------------------------------------------------------------------------------------------------
def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png(width: int, height: int, idat: bytes, color_type: int = 6, bit_depth: int = 8) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG (valid CRCs) whose IHDR claims `width`x`height` RGBA pixels, with one row of pixel data: a
    decompression bomb's header without the bomb (~100 bytes)."""
    return _png(width, height, zlib.compress(b"\x00" * 64))


@functools.lru_cache(maxsize=8)
def png_zeros(width: int, height: int, color_type: int = 6, bit_depth: int = 8) -> bytes:
    """A real, complete PNG of `width`x`height` transparent black pixels: a few hundred KiB that decode to
    width*height*channels bytes (RGBA by default: 4 bytes a pixel; 16-bit RGBA: 8)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    rows = height * (1 + (width * channels * bit_depth + 7) // 8)  # each row: filter type 0, then its pixels
    return _png(width, height, zlib_zeros(rows), color_type=color_type, bit_depth=bit_depth)


def png_bad_crc() -> bytes:
    """A small PNG whose IHDR checksum is wrong."""
    data = bytearray(png_zeros(16, 16))
    data[29] ^= 0xFF  # last byte of IHDR's CRC (8 signature + 8 length/type + 13 body)
    return bytes(data)


def png_zero_size() -> bytes:
    return _png(0, 0, zlib.compress(b""))


def real_image(fmt: str, size: tuple[int, int] = (64, 48), **save) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (240, 240, 240)).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is rewritten to claim `width`x`height` (each at most 65535)."""
    data = bytearray(real_image("JPEG", (16, 16)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@functools.lru_cache(maxsize=2)
def webp_lossless_black(width: int, height: int) -> bytes:
    """A real lossless WebP of `width`x`height` black pixels: a few dozen bytes that decode to 4 bytes a pixel."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="WEBP", lossless=True, method=0)
    return buffer.getvalue()


def _jpeg_segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def jpeg_scan_bomb(scans: int, width: int = 4096, height: int = 4096) -> bytes:
    """A valid progressive greyscale JPEG made of `scans` AC scans that each code the whole image as end-of-block
    runs: 40 bytes a scan, and each makes libjpeg walk all width*height/64 blocks again (about 1 ms a scan at
    4096x4096, so 20,000 scans in 800 KB are twenty seconds of CPU)."""
    blocks = (width // 8) * (height // 8)
    assert width % 8 == 0 and height % 8 == 0 and blocks % 16384 == 0
    out = b"\xff\xd8" + _jpeg_segment(0xDB, b"\x00" + b"\x01" * 64)
    out += _jpeg_segment(0xC2, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")  # SOF2, progressive
    out += _jpeg_segment(0xC4, b"\x00\x01" + bytes(15) + b"\x00")  # DC table: the one code "0" is category 0
    out += _jpeg_segment(0xC4, b"\x10\x01" + bytes(15) + b"\xe0")  # AC table: the one code "0" is EOB14
    out += _jpeg_segment(0xDA, b"\x01\x01\x00\x00\x00\x00") + bytes(blocks // 8)  # DC scan: a bit a block
    # EOB14 with 14 zero bits: a run of 16384 blocks in 15 bits
    ac_scan = _jpeg_segment(0xDA, b"\x01\x01\x00\x01\x3f\x00") + bytes(blocks // 16384 * 15 // 8)
    return out + ac_scan * scans + b"\xff\xd9"


def webp_claiming(width: int, height: int) -> bytes:
    """An extended-format WebP (VP8X) whose canvas claims `width`x`height` (each at most 2**24) and holds no frame."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (
        height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def gif_claiming(width: int, height: int) -> bytes:
    """A GIF whose logical screen claims `width`x`height` (GIF is not a type the services take)."""
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b",\x00\x00\x00\x00\x01\x00\x01\x00\x00" \
        + b"\x02\x02\x44\x01\x00;"


def truncated(data: bytes, fraction: float = 0.5) -> bytes:
    return data[:max(1, int(len(data) * fraction))]


# -- audio -------------------------------------------------------------------------------------------------------
STREAMING_WAV_SIZE = 0xFFFFFFFF  # what a recorder writes when it cannot seek back: "length unknown"


def wav(seconds: float, rate: int = 16_000, channels: int = 1, *, claimed_seconds: float | None = None,
        data_size: int | None = None, bits: int = 16, fmt_tag: int = 1, byte_rate: int | None = None) -> bytes:
    """A PCM WAV of `seconds` of silence. `claimed_seconds` (or a raw `data_size`) makes the RIFF and data headers
    claim that much instead (a header that lies); `fmt_tag`, `channels`, `rate`, `bits` and `byte_rate` are written
    as given, so they can be absurd."""
    block = channels * bits // 8
    rate_bytes = rate * block if byte_rate is None else byte_rate
    data = b"\x00" * (int(seconds * rate) * block)
    claimed = len(data) if claimed_seconds is None else int(claimed_seconds * rate) * block
    claimed = min(claimed if data_size is None else data_size, 0xFFFFFFFF)
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate_bytes & 0xFFFFFFFF, block & 0xFFFF, bits)
    riff = struct.pack("<I", min(36 + claimed, 0xFFFFFFFF))
    return b"RIFF" + riff + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack(
        "<I", claimed) + data


# -- PDF ---------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def pdf_pages(count: int, width_pt: float = 612, height_pt: float = 792) -> bytes:
    """A PDF of `count` blank pages (pypdfium2)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    try:
        for _ in range(count):
            pdf.new_page(width_pt, height_pt).close()
        buffer = io.BytesIO()
        pdf.save(buffer)
        return buffer.getvalue()
    finally:
        pdf.close()


def handmade_pdf(objects: Iterable[bytes]) -> bytes:
    """A PDF written byte by byte: object 1 is the catalog, the rest as given (numbered from 2), with a correct
    cross-reference table."""
    bodies = list(objects)
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%EOF\n" % (len(bodies) + 1, xref)
    return bytes(out)


def pdf_with_media_box(x1: float, y1: float, x2: float, y2: float) -> bytes:
    """One page with the MediaBox given (degenerate or absurd boxes included)."""
    return handmade_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [%s %s %s %s] >>" % tuple(str(v).encode() for v in (x1, y1, x2, y2)),
    ])


def pdf_image_bomb(width: int, height: int) -> bytes:
    """One letter-size page drawing an image XObject of `width`x`height` grey pixels whose Flate stream is zeros:
    a small file that decodes to width*height bytes inside PDFium."""
    stream = zlib_zeros(width * height)
    content = b"q 612 0 0 792 0 0 cm /Im0 Do Q"
    return handmade_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /XObject << /Im0 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 "
        b"/Filter /FlateDecode /Length %d >>\nstream\n" % (width, height, len(stream)) + stream + b"\nendstream",
    ])


def _page_with(content: bytes, resources: bytes = b"") -> list[bytes]:
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R %s >>" % resources,
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]


def pdf_nested_forms(depth: int, fanout: int = 2) -> bytes:
    """A "billion laughs" PDF: the page draws form XObject 1, which draws form 2 `fanout` times, and so on `depth`
    levels down (fanout**depth lines in a few KiB); PDFium expands every instance."""
    objects = _page_with(b"/X Do", b"/Resources << /XObject << /X 5 0 R >> >>")
    for level in range(depth):
        last = level == depth - 1
        body = b"0 0 m 100 100 l S" if last else b" ".join([b"/X Do"] * fanout)
        resources = b"" if last else b"/Resources << /XObject << /X %d 0 R >> >>" % (6 + level)
        objects.append(b"<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] %s /Length %d >>\nstream\n"
                       % (resources, len(body)) + body + b"\nendstream")
    return handmade_pdf(objects)


def pdf_many_lines(count: int) -> bytes:
    """One page stroking `count` page-wide lines (18 bytes each): PDFium needs about 15 s for 100,000."""
    return handmade_pdf(_page_with(b"0 0 m 600 700 l S\n" * count))


MALFORMED_PDFS = {
    "header_only": b"%PDF-1.7\n",
    "garbage": b"%PDF-1.4\n" + bytes(range(256)) * 16,
    "no_pages": handmade_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]),
    "truncated": truncated(pdf_pages.__wrapped__(3), 0.4),
    "zero_media_box": pdf_with_media_box(0, 0, 0, 0),
    "sliver_media_box": pdf_with_media_box(0, 0, 0.001, 14400),
    "huge_media_box": pdf_with_media_box(0, 0, 1e9, 1e9),
    "negative_media_box": pdf_with_media_box(612, 792, 0, 0),
}


# -- multipart ---------------------------------------------------------------------------------------------------
BOUNDARY = b"abuse-boundary-7d1f"


def multipart(parts: Iterable[tuple[bytes, bytes | None, bytes | None, bytes]],
              boundary: bytes = BOUNDARY) -> tuple[bytes, str]:
    """A multipart/form-data body from raw (name, filename, content type, data) parts, every byte as given (no
    quoting, no escaping): returns (body, Content-Type header value)."""
    out = bytearray()
    for name, filename, content_type, data in parts:
        out += b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"" + name + b"\""
        if filename is not None:
            out += b"; filename=\"" + filename + b"\""
        out += b"\r\n"
        if content_type is not None:
            out += b"Content-Type: " + content_type + b"\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += b"--" + boundary + b"--\r\n"
    return bytes(out), "multipart/form-data; boundary=" + boundary.decode()


def many_parts(count: int, file_part: tuple[bytes, bytes | None, bytes | None, bytes]) -> tuple[bytes, str]:
    """`count` tiny text fields (all named `junk`) and then `file_part`."""
    return multipart([*((b"junk", None, None, b"x") for _ in range(count)), file_part])


TRAVERSAL_FILENAMES = {
    "dotdot": b"../../etc/passwd",
    "dotdot_windows": b"..\\..\\windows\\win.ini",
    "absolute": b"/etc/passwd",
    "nul": b"form.png\x00.sh",
    "nul_dotdot": b"../\x00../etc/shadow",
    "dev": b"/dev/zero",
    "proc": b"/proc/self/environ",
    "non_utf8": b"\xff\xfe../x.png",
    "empty": b"",
}


# -- checks --------------------------------------------------------------------------------------------------------
def assert_contract_error(response, status: int, code: str) -> dict:
    """`response` (a requests.Response) is the contract's JSON error with this status and code; returns its
    `error` object."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.text
    return body["error"]


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


@contextlib.contextmanager
def peak_rss(pid: int, label: str, budget_mib: float) -> Iterator[None]:
    """Resets the peak RSS of process `pid` (VmHWM, through /proc/<pid>/clear_refs: Linux 4.0+), runs the block,
    then prints how far the peak rose over the RSS the process had before (`pytest -s` shows the line) and fails
    when that is `budget_mib` or more."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    baseline = _status_kib(pid, "VmRSS") / 1024
    yield
    peak = _status_kib(pid, "VmHWM") / 1024
    print(f"\n[peak RSS] {label}: baseline {baseline:.0f} MiB, peak {peak:.0f} MiB, growth {peak - baseline:.0f} MiB "
          f"(budget {budget_mib} MiB)")
    assert peak - baseline < budget_mib, f"{label}: peak RSS grew {peak - baseline:.0f} MiB over {baseline:.0f} MiB"
