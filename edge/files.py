"""Writing a file so that a crash or power cut leaves the old content or the new, never half of it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, data: bytes | str, *, mode: int = 0o644,
                 prepare: Callable[[int], None] | None = None) -> None:
    """Write to a temporary name beside `path`, fsync, rename over it and fsync the folder.
    `prepare(fd)` may set ownership or permissions before the data is made durable."""
    _remove_leftovers(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            rest = memoryview(data.encode() if isinstance(data, str) else data)
            while rest:  # a write can be short (a disk filling up): the rest, or the error, must follow
                rest = rest[os.write(fd, rest):]
            if prepare:
                prepare(fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half-written file left to fill a disk that may already be full
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (vfat boot partitions on old kernels) cannot fsync a folder
    finally:
        os.close(fd)


def _remove_leftovers(folder: Path) -> None:
    """Remove the temporary files of writes in `folder` by processes that died mid-write (killed, power cut). Once a
    process and folder: such files come only from processes gone before, and a folder of many files (pull pages)
    takes as long to list as a write takes."""
    if folder in _cleared:
        return
    _cleared.add(folder)
    for old in folder.glob(".*.*.tmp"):
        pid = old.name.rsplit(".", 2)[1]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            old.unlink(missing_ok=True)


_cleared: set[Path] = set()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
