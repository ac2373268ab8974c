"""A live camera for the gate: OpenCV `VideoCapture` read in its own thread, keeping only the newest frame.

The source is a device (`0`, `/dev/video0`), a network stream (`rtsp://`, `http://` MJPEG ...), a video file or an
image sequence (`frames/%04d.jpg`, read still by still: `Stills`; a still over MAX_IMAGE_PIXELS is not decoded).
Files are played at their own frame rate (or `fps`), from the start again at the end when `loop` is set
(simulation, recordings); otherwise their end counts as the stream dropping.

- Newest frame only: the thread reads as fast as the camera delivers, so neither OpenCV's nor the camera's buffer
  fills with old pictures; a consumer that is slower (reading plates) gets the newest and the others are dropped
  (counted in `dropped`).
- A corrupt frame (undecodable, or not a picture) is counted in `corrupt` with its reason in `error`, and reading
  goes on; after `max_failures` in a row, or no good frame for `stall_s`, the stream is reopened.
- Reopening waits with capped exponential backoff (1, 2, 4 ... `backoff_cap_s` seconds), so a dead camera costs
  nothing and a recovered one is back within the cap.
- `stats()` says whether it is open, its frame size and measured rate, for /healthz and `edge doctor`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from vision.errors import BadImageError, CameraError
from vision.images import image_size, pixels_problem, size_problem

log = logging.getLogger(__name__)

SourceKind = Literal["device", "stream", "file", "sequence"]
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_CREDENTIALS = re.compile(r"(://[^:/@\s]+:)[^/\s]*@")  # up to the last @ before the host
_SECRET_QUERY = re.compile(r"([?&;](?:password|passwd|pwd|pass|token|key|secret|auth)=)[^&;#\s]*", re.IGNORECASE)


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    seq: int  # good frames read since the stream was made; a gap between two taken frames is frames dropped
    t: float  # monotonic time it was read


def source_kind(source: str) -> SourceKind:
    if source.isdigit() or source.startswith("/dev/video"):
        return "device"
    if _URL.match(source):
        return "stream"
    if re.search(r"%0?\d*d", source):
        return "sequence"
    return "file"


def redact(source: str) -> str:
    """rtsp://admin:secret@cam/ -> rtsp://admin:***@cam/, and ?user=admin&password=secret -> password=*** (health
    reports and logs never show the password)."""
    return _SECRET_QUERY.sub(r"\1***", _CREDENTIALS.sub(r"\1***@", source))


def frame_problem(image: object) -> str | None:
    """Why a decoded frame is not a usable picture, or None when it is."""
    if not isinstance(image, np.ndarray) or image.size == 0:
        return "empty frame"
    if image.dtype != np.uint8:
        return f"frame of {image.dtype} pixels, not 8-bit"
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 8:
        return f"frame of shape {image.shape}, not a BGR picture"
    return None


def check_frame(image: object) -> np.ndarray:
    """The frame, or BadImageError saying what is wrong with it."""
    problem = frame_problem(image)
    if problem:
        raise BadImageError(problem)
    assert isinstance(image, np.ndarray)
    return image


def backoff(streak: int, *, base: float = 1.0, cap: float = 30.0) -> float:
    """Capped exponential backoff: base, 2 base, 4 base ... cap."""
    return min(cap, base * 2 ** max(0, streak - 1))


class CameraStream:
    """One camera, read by a background thread. `start()`, then `wait(after_seq)` for newer frames; `close()`."""

    def __init__(self, source: str, *, name: str = "camera", loop: bool = False, fps: float | None = None,
                 open_timeout_s: float = 5.0, read_timeout_s: float = 5.0, max_failures: int = 5,
                 stall_s: float = 10.0, backoff_base_s: float = 1.0, backoff_cap_s: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.source, self.name, self.kind = source, name, source_kind(source)
        self.loop, self.fps = loop, fps
        self.open_timeout_s, self.read_timeout_s = open_timeout_s, read_timeout_s
        self.max_failures, self.stall_s = max_failures, stall_s
        self.backoff_base_s, self.backoff_cap_s = backoff_base_s, backoff_cap_s
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._frame: Frame | None = None
        self._taken = 0
        self._times: deque[float] = deque(maxlen=30)
        self.opened = False
        self.size: tuple[int, int] | None = None  # width, height of the last good frame
        self.nominal_fps: float | None = None
        self.counts = {"frames": 0, "dropped": 0, "corrupt": 0, "reconnects": 0, "open_failures": 0}
        self.error: str | None = None  # why it is not delivering frames now (None while it is)
        self.last_corrupt: str | None = None  # the last frame that could not be used, and why

    # ---- the consumer's side --------------------------------------------------------------------------------

    def start(self) -> CameraStream:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"camera:{self.name}", daemon=True)
            self._thread.start()
        return self

    def wait(self, after_seq: int = 0, timeout: float | None = None) -> Frame | None:
        """The newest frame newer than `after_seq`, waiting up to `timeout` s for one; None if none came."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._stopped_or_newer(after_seq), timeout):
                return None
            frame = self._frame
            if frame is None or frame.seq <= after_seq:
                return None
            self._taken = frame.seq
            return frame

    def _stopped_or_newer(self, after_seq: int) -> bool:
        return self._stop.is_set() or (self._frame is not None and self._frame.seq > after_seq)

    def latest(self) -> Frame | None:
        with self._cond:
            return self._frame

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread and release the camera. Safe to call twice."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> CameraStream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def measured_fps(self) -> float | None:
        times = list(self._times)
        if len(times) < 2 or times[-1] <= times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0])

    def stats(self) -> dict[str, Any]:
        """For /healthz and `edge doctor`: open or not, frame size and rate, counters, the last error."""
        latest = self._frame
        fps = self.measured_fps()
        return {
            "source": redact(self.source),
            "kind": self.kind,
            "opened": self.opened,
            "width": self.size[0] if self.size else None,
            "height": self.size[1] if self.size else None,
            "fps": round(fps, 1) if fps else None,
            "nominal_fps": self.nominal_fps,
            "last_frame_age_s": round(self._monotonic() - latest.t, 1) if latest else None,
            **self.counts,
            "error": self.error,
            "last_corrupt": self.last_corrupt,
        }

    # ---- the thread -------------------------------------------------------------------------------------------

    def _run(self) -> None:
        streak = 0
        while not self._stop.is_set():
            good, ended = 0, False
            try:
                cap = self._open()
            except CameraError as e:
                self.counts["open_failures"] += 1
                self._set_error(str(e))
                cap = None
            if cap is not None:
                try:
                    good, ended = self._pump(cap)
                except Exception as e:  # a frame must never take the gateway down; the stream is reopened
                    self._set_error(f"{redact(self.source)}: {type(e).__name__}: {e}")
                finally:
                    cap.release()
                    self.opened = False
            if self._stop.is_set():
                break
            self.counts["reconnects"] += 1
            if ended and self.loop and good:
                continue  # a looped recording that cannot rewind: open it again at once
            streak = 1 if good else streak + 1
            self._stop.wait(backoff(streak, base=self.backoff_base_s, cap=self.backoff_cap_s))

    def _open(self) -> cv2.VideoCapture | Stills:
        if self.kind == "device":
            target: int | str = int(self.source) if self.source.isdigit() else self.source
            cap = cv2.VideoCapture(target)
        elif self.kind == "sequence":
            cap = Stills(self.source)
        else:
            if self.kind == "file" and not Path(self.source).is_file():
                raise CameraError(f"{self.source}: no such video file")
            if self.kind == "file" and (problem := _oversized_still(Path(self.source))):
                raise CameraError(f"{self.source}: {problem}")
            cap = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout_s * 1000)])
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"{redact(self.source)}: cannot open the {self.kind} (unplugged, wrong address, "
                              "refused or not a video)")
        if self.kind == "device":
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # V4L2: no queue of old frames
        nominal = cap.get(cv2.CAP_PROP_FPS)
        self.nominal_fps = round(nominal, 2) if 0 < nominal < 1000 else None
        self.opened = True
        log.info("camera %s: opened %s", self.name, redact(self.source))
        return cap

    def _pump(self, cap: cv2.VideoCapture | Stills) -> tuple[int, bool]:
        """Read until the stream fails, a recording ends or we stop: (good frames read, whether it ended)."""
        recorded = self.kind in ("file", "sequence")
        period = 1.0 / (self.fps or self.nominal_fps or 10.0) if recorded else 0.0
        good, failures = 0, 0
        last_good = due = self._monotonic()
        while not self._stop.is_set():
            if period:
                self._stop.wait(max(0.0, due - self._monotonic()))
                due = max(due + period, self._monotonic() - period)  # behind by more than a frame: do not race
            ok, image = cap.read()
            if not ok and recorded and _at_end(cap, failures, self.max_failures):
                if self.loop and cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
                    failures = 0
                    continue
                self._set_error(f"{self.source}: the recording ended")
                return good, True
            if ok:
                problem = frame_problem(image)
            else:
                problem = (cap.problem if isinstance(cap, Stills) else None) or "no frame could be decoded"
            now = self._monotonic()
            if problem:
                failures += 1
                self.counts["corrupt"] += 1
                self.last_corrupt = f"frame after {self.counts['frames']}: {problem}"
                if self.counts["corrupt"] % 100 == 1:  # the first, then every 100th: a bad link must not flood logs
                    log.warning("camera %s: corrupt %s (%d so far)", self.name, self.last_corrupt,
                                self.counts["corrupt"])
                if failures >= self.max_failures or now - last_good >= self.stall_s:
                    self._set_error(f"{redact(self.source)}: {failures} frames in a row could not be read")
                    return good, False
                continue
            good, failures, last_good = good + 1, 0, now
            self._publish(image, now)
        return good, False

    def _publish(self, image: np.ndarray, now: float) -> None:
        with self._cond:
            if self._frame is not None and self._frame.seq > self._taken:
                self.counts["dropped"] += 1  # the previous frame was never taken: a newer one replaces it
            self.counts["frames"] += 1
            self._frame = Frame(image, self.counts["frames"], now)
            self._cond.notify_all()
        self._times.append(now)
        self.size = (image.shape[1], image.shape[0])
        self.error = None  # frames flow: whatever kept the camera down is over

    def _set_error(self, error: str) -> None:
        if error != self.error:
            log.warning("camera %s: %s", self.name, error)
        self.error = error


class Stills:
    """An image sequence (`frames/%04d.jpg`) read still by still, with the calls of VideoCapture that CameraStream
    makes. VideoCapture would read it with FFmpeg, which decodes a still at whatever size its header claims (a
    64-KB file saying 30000x30000: 2.7 GB) and cannot skip one without decoding it; here each still's header is
    read first (vision/images.py), and one that is refused or corrupt is skipped with its reason in `problem`.
    Numbered as FFmpeg numbers them: from the first of 0..4 that exists, up to the first number missing."""

    FPS = 25.0  # what FFmpeg reports for stills: the playing rate unless `fps` is given

    def __init__(self, pattern: str) -> None:
        self.paths: list[Path] = []
        self.pos = 0
        self.problem: str | None = None  # why the last still read was not a picture
        try:
            start = next((i for i in range(5) if Path(pattern % i).is_file()), None)
            while start is not None and Path(pattern % (start + len(self.paths))).is_file():
                self.paths.append(Path(pattern % (start + len(self.paths))))
        except (TypeError, ValueError):  # more than one number in the pattern: nothing to read
            self.paths = []

    def isOpened(self) -> bool:  # VideoCapture's name
        return bool(self.paths)

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.pos >= len(self.paths):
            return False, None
        path, self.pos = self.paths[self.pos], self.pos + 1
        try:
            data = path.read_bytes()
        except OSError as e:
            self.problem = f"{path.name}: {e.strerror or e}"
            return False, None
        self.problem = size_problem(data) if data else "the file is empty"
        if self.problem:
            return False, None
        try:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        except cv2.error as e:
            self.problem = f"OpenCV refused it ({e.err})"
            return False, None
        self.problem = None if image is not None else "corrupt or not an image"
        return image is not None, image

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_POS_FRAMES: self.pos, cv2.CAP_PROP_FRAME_COUNT: len(self.paths),
                cv2.CAP_PROP_FPS: self.FPS}.get(prop, 0.0)

    def set(self, prop: int, value: float) -> bool:
        if prop != cv2.CAP_PROP_POS_FRAMES or not 0 <= value <= len(self.paths):
            return False
        self.pos = int(value)
        return True

    def release(self) -> None:
        self.paths, self.pos = [], 0


def _oversized_still(path: Path) -> str | None:
    """Why a still image given as a video file is not opened (more than MAX_IMAGE_PIXELS: FFmpeg decodes any size),
    or None, also for a video or a file that cannot be read (the reader says so)."""
    try:
        with path.open("rb") as f:
            size = image_size(f.read(1 << 20))
    except OSError:
        return None
    return pixels_problem(size) if size else None


def _at_end(cap: cv2.VideoCapture | Stills, failures: int, max_failures: int) -> bool:
    """A recording's read failed at its end (not at a corrupt frame in the middle, after which reading goes on)."""
    total, pos = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_POS_FRAMES)
    if total > 0:
        return pos >= total or failures + 1 >= max_failures
    return failures + 1 >= max_failures


def probe(source: str, *, timeout: float = 5.0, frames: int = 5) -> dict[str, Any]:
    """Open a camera for a moment (e.g. `edge doctor` while no gateway holds it): its stats after `frames` frames
    or `timeout` seconds, whichever comes first."""
    stream = CameraStream(source, name="probe", open_timeout_s=timeout, read_timeout_s=timeout,
                          backoff_base_s=timeout, backoff_cap_s=timeout).start()
    try:
        deadline, seq = time.monotonic() + timeout, 0
        while seq < frames and (left := deadline - time.monotonic()) > 0:
            frame = stream.wait(seq, left)
            if frame is None and stream.counts["open_failures"]:
                break
            seq = frame.seq if frame else seq
        return stream.stats()
    finally:
        stream.close()
