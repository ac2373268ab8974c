"""The width and height an image file's header claims, read before decoding it, pure (bytes in, numbers out).

A file of 64 KB can claim 30000x30000 pixels, and OpenCV decodes whatever the header says: 2.7 GB of BGR and
13 s for that one (measured; its own bound, 2**30 pixels, is only read from the environment when cv2 loads, and
its image-sequence and FFmpeg readers do not apply it). `size_problem` refuses a picture over MAX_IMAGE_PIXELS,
or one whose size cannot be read, before anything is decoded.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

MAX_IMAGE_PIXELS = 50_000_000  # 8K video (7680x4320, 33 MP) and 48-MP stills fit; decoded: 150 MB of BGR
FORMATS = "JPEG, PNG, BMP, GIF, WebP, AVIF, TIFF, PNM or Sun raster"

Size = tuple[int, int]  # width, height


def image_size(data: bytes) -> Size | None:
    """(width, height) as the header of a JPEG, PNG, BMP, GIF, WebP, AVIF, TIFF, PNM/PAM/PFM or Sun raster file
    says, or None when `data` is none of them (OpenCV's rarer ones: Radiance HDR, JPEG 2000, OpenEXR) or its
    header is cut short or broken."""
    for at, magic, read in _FORMATS:
        if data.startswith(magic, at):
            try:
                return read(data)
            except (struct.error, IndexError, ValueError):
                return None
    return None


def pixels_problem(size: Size) -> str | None:
    """Why a picture of this size is not decoded, or None."""
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        return (f"its header says {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS // 10**6} megapixels "
                "a camera picture has")
    return None


def size_problem(data: bytes) -> str | None:
    """Why an image file must not be decoded (a format whose size is not known here, or too many pixels), or
    None."""
    size = image_size(data)
    if size is None:
        return f"not a {FORMATS} image, or its header is cut short"
    return pixels_problem(size)


# ---- one reader per format: the size from the header, raising struct.error/IndexError when it is cut short ------

_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers (not DHT, JPG, DAC)
_JPEG_ALONE = frozenset([0x01, *range(0xD0, 0xD8)])  # markers without a length


def _jpeg(data: bytes) -> Size | None:
    """The first frame header (SOFn), walking the segments as libjpeg does (bytes before a marker skipped)."""
    i = 2
    while i < len(data) - 1:
        if data[i] != 0xFF or data[i + 1] == 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", data, i + 5)
            return width, height
        if marker in (0xD9, 0xDA):  # end of image, or the scan started, before any frame header
            return None
        i += 2 if marker in _JPEG_ALONE else 2 + struct.unpack_from(">H", data, i + 2)[0]
    return None


def _png(data: bytes) -> Size | None:
    if data[12:16] != b"IHDR":  # the first chunk, by the standard
        return None
    return struct.unpack_from(">II", data, 16)


def _bmp(data: bytes) -> Size | None:
    if struct.unpack_from("<I", data, 14)[0] == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sides
        return struct.unpack_from("<HH", data, 18)
    width, height = struct.unpack_from("<ii", data, 18)
    return abs(width), abs(height)  # negative height: rows top down


def _gif(data: bytes) -> Size | None:
    return struct.unpack_from("<HH", data, 6)  # the logical screen, which every frame is drawn on


def _webp(data: bytes) -> Size | None:
    if data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: 14-bit sides after the key frame's start code
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":  # lossless: 14 bits each of side - 1
        bits = struct.unpack_from("<I", data, 21)[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: the canvas, 24 bits each of side - 1
        return (int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1) \
            if len(data) >= 30 else None
    return None


def _tiff(data: bytes) -> Size | None:
    """ImageWidth (256) and ImageLength (257) of the first directory, the page OpenCV reads."""
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack_from(order + "I", data, 4)[0]
    found: dict[int, int] = {}
    for n in range(struct.unpack_from(order + "H", data, ifd)[0]):
        tag, kind = struct.unpack_from(order + "HH", data, ifd + 2 + 12 * n)
        if tag in (256, 257) and kind in (3, 4):  # SHORT or LONG
            found[tag] = struct.unpack_from(order + ("H" if kind == 3 else "I"), data, ifd + 2 + 12 * n + 8)[0]
    return (found[256], found[257]) if len(found) == 2 else None


def _avif(data: bytes) -> Size | None:
    """The largest image spatial extent ("ispe") property: the primary image's, or a tile's or thumbnail's when
    they are larger (an upper bound on what is decoded; the boxes are not walked)."""
    sides = [struct.unpack_from(">II", data, m.end() + 4) for m in re.finditer(rb"ispe", data[:1 << 20])]
    return max(sides, key=lambda s: s[0] * s[1]) if sides else None


def _sun_raster(data: bytes) -> Size | None:
    return struct.unpack_from(">II", data, 4)


_PNM_SIDES = re.compile(rb"\s+(\d{1,12})\s+(\d{1,12})\s")
_PAM_SIDE = re.compile(rb"^(WIDTH|HEIGHT)[ \t]+(\d{1,12})[ \t]*\r?\n", re.MULTILINE)


def _pnm(data: bytes) -> Size | None:
    """P1-P6 and PF/Pf: width and height are the first two numbers (comments from # to the line's end);
    P7 (PAM): WIDTH and HEIGHT lines."""
    kind, head = data[1:2], re.sub(rb"#[^\r\n]*", b"", data[2:4096])
    if kind == b"7":
        sides = dict(_PAM_SIDE.findall(head))
        return (int(sides[b"WIDTH"]), int(sides[b"HEIGHT"])) if len(sides) == 2 else None
    m = _PNM_SIDES.match(head) if kind in (b"1", b"2", b"3", b"4", b"5", b"6", b"F", b"f") else None
    return (int(m[1]), int(m[2])) if m else None


_FORMATS: tuple[tuple[int, bytes, Callable[[bytes], Size | None]], ...] = (  # (offset, magic, reader)
    (0, b"\xff\xd8\xff", _jpeg),
    (0, b"\x89PNG\r\n\x1a\n", _png),
    (0, b"BM", _bmp),
    (0, b"GIF87a", _gif),
    (0, b"GIF89a", _gif),
    (0, b"RIFF", _webp),
    (4, b"ftypavif", _avif),
    (4, b"ftypavis", _avif),
    (0, b"II*\x00", _tiff),
    (0, b"MM\x00*", _tiff),
    (0, b"P", _pnm),
    (0, b"\x59\xa6\x6a\x95", _sun_raster),
)
