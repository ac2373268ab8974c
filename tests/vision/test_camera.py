"""The gate camera on real OpenCV capture: video files (looped and ending), image sequences, corrupt frames, a bad
address, and an HTTP MJPEG stream that drops and comes back."""

from __future__ import annotations

import http.server
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.vision.crafted import jpeg_claiming
from vision.camera import CameraStream, backoff, check_frame, frame_problem, redact, source_kind
from vision.errors import BadImageError

SIZE = (160, 120)


def picture(i: int) -> np.ndarray:
    """Frame i: its number is its grey level (x8), which survives JPEG."""
    return np.full((SIZE[1], SIZE[0], 3), (i * 8) % 250, np.uint8)


def number(frame: np.ndarray) -> int:
    return round(float(frame.mean()) / 8)


def write_avi(path: Path, n: int, fps: float = 50.0) -> Path:
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
    for i in range(n):
        vw.write(picture(i))
    vw.release()
    return path


def corrupt_frame(path: Path, index: int) -> None:
    """Overwrite the headers of the index-th JPEG in an MJPEG AVI (its tables): that frame cannot be decoded."""
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    s = starts[index]
    data[s + 20: s + 200] = b"\x55" * 180
    path.write_bytes(bytes(data))


def collect(stream: CameraStream, n: int, timeout: float = 10.0) -> list[int]:
    """The numbers of the next n frames taken (each the newest at that moment)."""
    seen, seq, deadline = [], 0, time.monotonic() + timeout
    while len(seen) < n and time.monotonic() < deadline:
        frame = stream.wait(seq, timeout=0.5)
        if frame is not None:
            seq = frame.seq
            seen.append(number(frame.image))
    return seen


def until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_a_looped_video_file_plays_again_from_the_start(tmp_path):
    video = write_avi(tmp_path / "lane.avi", 10)
    with CameraStream(str(video), loop=True) as cam:
        seen = collect(cam, 25)
        stats = cam.stats()
    assert seen[:10] == list(range(10)) and seen[10:20] == list(range(10))  # paced at its own rate: none dropped
    assert stats["opened"] and (stats["width"], stats["height"]) == SIZE and stats["nominal_fps"] == 50.0
    assert stats["fps"] is not None and stats["reconnects"] == 0 and stats["error"] is None


def test_a_file_that_ends_is_reopened_after_a_backoff_like_a_dropped_stream(tmp_path):
    video = write_avi(tmp_path / "clip.avi", 5)
    with CameraStream(str(video), loop=False, backoff_base_s=0.05) as cam:
        seen = collect(cam, 12)
        stats = cam.stats()
    assert seen[:5] == list(range(5)) and seen[5:10] == list(range(5))
    assert stats["reconnects"] >= 2 and stats["frames"] >= 12


def test_a_bad_address_is_retried_with_backoff_and_reported_without_crashing():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cam = CameraStream(f"rtsp://admin:hunter2@127.0.0.1:{port}/stream1", name="gate", backoff_base_s=0.02,
                       backoff_cap_s=0.1).start()
    try:
        assert until(lambda: cam.counts["open_failures"] >= 3)
        stats = cam.stats()
        assert stats["opened"] is False and stats["frames"] == 0 and stats["width"] is None
        assert "cannot open the stream" in stats["error"] and "hunter2" not in str(stats)
        assert cam.wait(0, timeout=0.05) is None
    finally:
        started = time.monotonic()
        cam.close()
    assert time.monotonic() - started < 5  # stopping does not wait out the backoff


def test_a_missing_file_says_so(tmp_path):
    with CameraStream(str(tmp_path / "nothing.mp4"), backoff_base_s=0.02, backoff_cap_s=0.05) as cam:
        assert until(lambda: cam.error is not None)
        assert cam.error.endswith("no such video file") and not cam.opened


def test_a_corrupt_frame_is_counted_and_reading_goes_on(tmp_path):
    video = write_avi(tmp_path / "lane.avi", 12)
    corrupt_frame(video, 6)
    with CameraStream(str(video), loop=True) as cam:
        seen = collect(cam, 11)
        stats = cam.stats()
    assert seen == [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11]
    assert stats["corrupt"] == 1 and "corrupt" not in str(stats["error"]) and stats["reconnects"] == 0
    assert stats["last_corrupt"] == "frame after 6: no frame could be decoded"


def test_an_unreadable_image_in_a_sequence_is_skipped(tmp_path):
    for i in range(6):
        cv2.imwrite(str(tmp_path / f"f{i:03d}.jpg"), picture(i))
    (tmp_path / "f003.jpg").write_bytes(b"not a jpeg" * 20)
    with CameraStream(str(tmp_path / "f%03d.jpg"), fps=50, loop=False, backoff_base_s=0.05) as cam:
        seen = collect(cam, 5)
        assert until(lambda: cam.counts["corrupt"] >= 1)
    assert seen == [0, 1, 2, 4, 5]


def test_a_still_over_the_pixel_bound_in_a_sequence_is_skipped_undecoded(tmp_path):
    for i in range(6):
        cv2.imwrite(str(tmp_path / f"f{i:03d}.jpg"), picture(i))
    (tmp_path / "f003.jpg").write_bytes(jpeg_claiming(12_000, 12_000))  # OpenCV would decode 432 MB
    with CameraStream(str(tmp_path / "f%03d.jpg"), fps=50, loop=False, backoff_base_s=0.05) as cam:
        seen = collect(cam, 5)
        assert until(lambda: cam.counts["corrupt"] >= 1)
        stats = cam.stats()
    assert seen == [0, 1, 2, 4, 5]
    assert stats["last_corrupt"].startswith("frame after 3: its header says 12000x12000 pixels")


def test_a_still_image_file_over_the_pixel_bound_is_not_opened(tmp_path):
    still = tmp_path / "still.jpg"
    still.write_bytes(jpeg_claiming(12_000, 12_000))
    with CameraStream(str(still), backoff_base_s=0.02, backoff_cap_s=0.05) as cam:
        assert until(lambda: cam.error is not None)
        assert "12000x12000 pixels" in cam.error and not cam.opened and cam.counts["frames"] == 0


def test_a_slow_consumer_gets_the_newest_frame_and_the_others_are_dropped(tmp_path):
    video = write_avi(tmp_path / "lane.avi", 200, fps=100)
    with CameraStream(str(video)) as cam:
        first = cam.wait(0, timeout=5)
        time.sleep(0.3)  # reading plates
        second = cam.wait(first.seq, timeout=5)
        dropped = cam.counts["dropped"]
    assert second.seq > first.seq + 5  # not the frame after the first: the newest
    assert dropped >= second.seq - first.seq - 2


class _Mjpeg(http.server.BaseHTTPRequestHandler):
    """An IP camera's MJPEG over HTTP that drops the connection after 8 frames."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        for i in range(8):
            ok, buf = cv2.imencode(".jpg", picture(i))
            try:
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(buf)
                                 + buf.tobytes() + b"\r\n")
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.02)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mjpeg_server() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Mjpeg)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_network_stream_that_drops_is_reconnected(mjpeg_server):
    url = f"http://viewer:secret@127.0.0.1:{mjpeg_server}/video.mjpg"
    with CameraStream(url, backoff_base_s=0.05, read_timeout_s=2) as cam:
        assert until(lambda: cam.counts["reconnects"] >= 2 and cam.counts["frames"] >= 20, timeout=20)
        stats = cam.stats()
    assert stats["kind"] == "stream" and stats["source"] == f"http://viewer:***@127.0.0.1:{mjpeg_server}/video.mjpg"
    assert (stats["width"], stats["height"]) == SIZE


def test_source_kinds_redaction_backoff_and_frame_checks():
    assert [source_kind(s) for s in ("0", "/dev/video2", "rtsp://cam/1", "HTTP://x", "a/%04d.jpg", "lane.mp4")] == \
        ["device", "device", "stream", "stream", "sequence", "file"]
    assert redact("rtsp://admin:p@ss:w0rd@10.0.0.5:554/h264") == "rtsp://admin:***@10.0.0.5:554/h264"
    assert redact("rtsp://10.0.0.5/h264") == "rtsp://10.0.0.5/h264"
    assert redact("http://10.0.0.5/video.cgi?user=admin&PWD=s3cret&res=1") == \
        "http://10.0.0.5/video.cgi?user=admin&PWD=***&res=1"  # a password in the query too
    assert [backoff(n, base=1, cap=30) for n in (1, 2, 3, 5, 9)] == [1, 2, 4, 16, 30]
    assert frame_problem(None) == "empty frame"
    assert frame_problem(np.zeros((4, 4, 3), np.uint8)).startswith("frame of shape")
    assert frame_problem(np.zeros((20, 20, 3), np.float32)) == "frame of float32 pixels, not 8-bit"
    assert frame_problem(np.zeros((20, 20), np.uint8)).startswith("frame of shape")
    with pytest.raises(BadImageError, match="empty frame"):
        check_frame(np.zeros((0, 0, 3), np.uint8))
    good = np.zeros((20, 20, 3), np.uint8)
    assert check_frame(good) is good
