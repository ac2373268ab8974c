"""The width and height an image file's header claims, read before decoding it (Pillow reads only the header).

A file of 64 KB can claim 30000x30000 pixels, and OpenCV decodes whatever the header says: 2.7 GB of BGR and
13 s for that one (measured; its own bound, 2**30 pixels, is only read from the environment when cv2 loads, and
its image-sequence and FFmpeg readers do not apply it). `size_problem` refuses a picture over MAX_IMAGE_PIXELS,
or one whose size cannot be read, before anything is decoded.
"""

from __future__ import annotations

import io

MAX_IMAGE_PIXELS = 50_000_000  # 8K video (7680x4320, 33 MP) and 48-MP stills fit; decoded: 150 MB of BGR
FORMATS = "JPEG, PNG, BMP, GIF, WebP, AVIF, TIFF, PNM or Sun raster"
_KNOWN = frozenset({"JPEG", "MPO", "PNG", "BMP", "GIF", "WEBP", "AVIF", "TIFF", "PPM", "SUN"})  # Pillow's names

Size = tuple[int, int]  # width, height


def image_size(data: bytes) -> Size | None:
    """(width, height) as the header of a JPEG, PNG, BMP, GIF, WebP, AVIF, TIFF, PNM or Sun raster file says, or
    None when `data` is none of them (or OpenCV's rarer ones: Radiance HDR, JPEG 2000, OpenEXR, PAM) or its header
    is cut short or broken."""
    from PIL import Image  # here, not at the top: a gateway whose cameras are streams never needs it

    Image.MAX_IMAGE_PIXELS = None  # the size is all we ask for, and MAX_IMAGE_PIXELS is applied to it right after
    try:
        with Image.open(io.BytesIO(data)) as im:  # lazy: the header is parsed, no pixel is decoded
            return im.size if im.format in _KNOWN else None
    except Exception:  # noqa: BLE001 - untrusted bytes: whatever Pillow's parsers raise, the answer is "unknown"
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
