"""vision/images.py: the size an image file's header claims, read before decoding, and the pixel bound."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.vision.crafted import jpeg_claiming, png_claiming
from vision.images import FORMATS, MAX_IMAGE_PIXELS, image_size, size_problem

PICTURE = np.random.default_rng(0).integers(0, 255, (37, 53, 3), np.uint8)
# (extension, OpenCV encoding flags, a grey picture instead) for every format the header is read of
ENCODED = [(".jpg", [], False), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1], False), (".png", [], False),
           (".png", [], True), (".bmp", [], False), (".gif", [], False), (".webp", [], False),
           (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101], False), (".avif", [], False), (".tif", [], False),
           (".ppm", [], False), (".pgm", [], True), (".sr", [], False)]


def _encoded(ext: str, flags: list[int], grey: bool) -> bytes:
    ok, buf = cv2.imencode(ext, PICTURE[:, :, 0] if grey else PICTURE, flags)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize(("ext", "flags", "grey"), ENCODED, ids=[f"{e}{f}{g}" for e, f, g in ENCODED])
def test_the_header_gives_the_size_opencv_decodes(ext: str, flags: list[int], grey: bool) -> None:
    data = _encoded(ext, flags, grey)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image_size(data) == (53, 37) == decoded.shape[1::-1]
    assert size_problem(data) is None


@pytest.mark.parametrize(("ext", "flags", "grey"), ENCODED, ids=[f"{e}{f}{g}" for e, f, g in ENCODED])
def test_a_header_cut_short_is_no_size_rather_than_a_crash(ext: str, flags: list[int], grey: bool) -> None:
    data = _encoded(ext, flags, grey)
    assert {image_size(data[:n]) for n in range(0, 300)} <= {None, (53, 37)}


@given(st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"GIF89a", b"RIFF", b"\0\0\0\x20ftypavif",
                        b"II*\0", b"MM\0*", b"P6", b"P7", b"Y\xa6j\x95"]), st.binary(max_size=200))
def test_any_bytes_after_a_known_signature_give_a_size_or_none(magic: bytes, rest: bytes) -> None:
    size = image_size(magic + rest)
    assert size is None or (len(size) == 2 and all(isinstance(v, int) and v >= 0 for v in size))


def test_a_small_file_claiming_a_huge_picture_is_refused_naming_its_size() -> None:
    for data in (png_claiming(30_000, 30_000), jpeg_claiming(30_000, 30_000)):
        problem = size_problem(data)
        assert problem is not None and "30000x30000 pixels" in problem and "50 megapixels" in problem


def test_the_bound_lets_8k_and_48_megapixel_stills_through() -> None:
    assert MAX_IMAGE_PIXELS == 50_000_000
    assert size_problem(jpeg_claiming(7680, 4320)) is None  # 8K
    assert size_problem(png_claiming(8000, 6000)) is None  # a 48-MP phone camera
    assert size_problem(png_claiming(10_000, 5_001)) is not None


def test_an_unknown_format_or_text_is_refused_before_decoding() -> None:
    for data in (b"not an image at all", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 9 +X 9\n"):
        assert size_problem(data) == f"not a {FORMATS} image, or its header is cut short"
