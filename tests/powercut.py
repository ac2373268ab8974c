"""A filesystem that can lose power: an in-memory FUSE filesystem (mfusepy over libfuse3) that keeps, beside what
programs see, what a disk would still hold after the power went off, and can go back to it.

What survives a cut, as on ext4 (data=ordered), the filesystem of a Pi's SD card:
- a file's bytes as they were at its last fsync (or fdatasync); bytes written after it are lost;
- a name (create, rename, unlink) once its folder was fsynced, or, for a file created since, once the file itself
  was fsynced (ext4 commits the new entry with the file).
Everything else is lost, or with `cut(rng)` partly lost: of the writes since a file's last fsync, each 512-byte
sector of each write reaches the disk or not at random (in the order written), as a disk's cache may have flushed
some, torn mid-write, when the power went. `cut()` unmounts (the process using it must be dead: kill -9 first),
goes back to that state and mounts again, so nothing the kernel cached from before the cut can be read after it.
"""

from __future__ import annotations

import errno
import os
import random
import stat
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import mfusepy as fuse

SECTOR = 512


@dataclass(eq=False)
class Node:
    mode: int
    data: bytearray = field(default_factory=bytearray)
    durable: bytes = b""  # the bytes a cut leaves
    pending: list[tuple[int, bytes | None]] = field(default_factory=list)  # since the last fsync: writes, truncates

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


class PowerCutFS(fuse.Operations):
    use_ns = True  # times in nanoseconds (mfusepy warns otherwise; they are not kept anyway)

    def __init__(self) -> None:
        root = Node(stat.S_IFDIR | 0o755)
        self.names: dict[str, Node] = {"/": root}  # what programs see
        self.kept: dict[str, Node] = {"/": root}  # the names a cut leaves
        self.handles: dict[int, Node] = {}
        self.next_fh = 1
        self.syncs = 0  # fsyncs and fdatasyncs of files: a test can tell that the program synced at all
        self._mutex = threading.Lock()

    # ---- what a cut leaves -----------------------------------------------------------------------------------

    def power_loss(self, rng: random.Random | None = None) -> None:
        """Everything not made durable is gone, or with `rng` a random part of it (call while unmounted)."""
        with self._mutex:
            self.names = dict(self.kept)
            for node in self.names.values():
                data = bytearray(node.durable)
                for offset, chunk in node.pending if rng else ():
                    if chunk is None:  # a truncate to `offset` bytes, on the disk or not
                        if rng.random() < 0.5:
                            _resize(data, offset)
                        continue
                    for at in range(0, len(chunk), SECTOR):
                        if rng.random() < 0.5:
                            part = chunk[at:at + SECTOR]
                            _resize(data, max(len(data), offset + at + len(part)))
                            data[offset + at:offset + at + len(part)] = part
                node.data, node.durable, node.pending = data, bytes(data), []
            self.handles.clear()

    # ---- the operations ----------------------------------------------------------------------------------

    def _node(self, path: str) -> Node:
        try:
            return self.names[path]
        except KeyError:
            raise fuse.FuseOSError(errno.ENOENT) from None

    def _parent(self, path: str) -> str:
        parent = os.path.dirname(path)
        if parent not in self.names or not self.names[parent].is_dir:
            raise fuse.FuseOSError(errno.ENOENT)
        return parent

    def _open(self, node: Node) -> int:
        fh, self.next_fh = self.next_fh, self.next_fh + 1
        self.handles[fh] = node
        return fh

    def getattr(self, path, fh=None):
        with self._mutex:
            node = self.handles.get(fh) if fh else None
            node = node or self._node(path)
            now = time.time()
            return {"st_mode": node.mode, "st_nlink": 2 if node.is_dir else 1, "st_size": len(node.data),
                    "st_uid": os.getuid(), "st_gid": os.getgid(), "st_atime": now, "st_mtime": now,
                    "st_ctime": now, "st_blocks": (len(node.data) + 511) // 512}

    def readdir(self, path, fh):
        with self._mutex:
            prefix = path.rstrip("/") + "/"
            return [".", ".."] + [p[len(prefix):] for p in self.names
                                  if p != "/" and p.startswith(prefix) and "/" not in p[len(prefix):]]

    def mkdir(self, path, mode):
        with self._mutex:
            self._parent(path)
            if path in self.names:
                raise fuse.FuseOSError(errno.EEXIST)
            self.names[path] = Node(stat.S_IFDIR | (mode & 0o7777))
            return 0

    def rmdir(self, path):
        with self._mutex:
            if any(p.startswith(path + "/") for p in self.names):
                raise fuse.FuseOSError(errno.ENOTEMPTY)
            self._node(path)
            del self.names[path]
            return 0

    def create(self, path, mode, fi=None):
        with self._mutex:
            self._parent(path)
            node = self.names.get(path)
            if node is None:
                node = self.names[path] = Node(stat.S_IFREG | (mode & 0o7777))
            return self._open(node)

    def open(self, path, flags):
        with self._mutex:
            node = self._node(path)
            if flags & os.O_TRUNC:
                _resize(node.data, 0)
                node.pending.append((0, None))
            return self._open(node)

    def opendir(self, path):
        with self._mutex:
            self._node(path)
            return 0

    def read(self, path, size, offset, fh):
        with self._mutex:
            return bytes(self.handles[fh].data[offset:offset + size])

    def write(self, path, data, offset, fh):
        with self._mutex:
            node = self.handles[fh]
            _resize(node.data, max(len(node.data), offset))
            node.data[offset:offset + len(data)] = data
            node.pending.append((offset, bytes(data)))
            return len(data)

    def truncate(self, path, length, fh=None):
        with self._mutex:
            node = self.handles.get(fh) if fh else None
            node = node or self._node(path)
            _resize(node.data, length)
            node.pending.append((length, None))
            return 0

    def fallocate(self, path, mode, offset, size, fh):
        with self._mutex:
            node = self.handles[fh]
            if mode == 0 and offset + size > len(node.data):
                _resize(node.data, offset + size)
                node.pending.append((offset + size, None))
            return 0

    def fsync(self, path, datasync, fh):
        with self._mutex:
            node = self.handles[fh]
            node.durable, node.pending = bytes(node.data), []
            self.syncs += 1
            if path in self.names and self.names[path] is node and path not in self.kept:
                self.kept[path] = node  # a new file's entry goes with it
            return 0

    def fsyncdir(self, path, datasync, fh):
        with self._mutex:
            prefix = path.rstrip("/") + "/"

            def inside(p: str) -> bool:
                return p.startswith(prefix) and "/" not in p[len(prefix):]

            for p in [p for p in self.kept if inside(p)]:
                del self.kept[p]
            for p, node in self.names.items():
                if inside(p):
                    self.kept[p] = node
            return 0

    def rename(self, old, new):
        with self._mutex:
            node = self._node(old)
            self._parent(new)
            if node.is_dir:
                raise fuse.FuseOSError(errno.EXDEV)  # not needed here
            del self.names[old]
            self.names[new] = node
            return 0

    def unlink(self, path):
        with self._mutex:
            self._node(path)
            del self.names[path]
            return 0

    def release(self, path, fh):
        with self._mutex:
            self.handles.pop(fh, None)
            return 0

    def statfs(self, path):
        with self._mutex:
            used = sum(len(n.data) for n in self.names.values()) // 4096
            total = 1 << 20  # 4 GiB of 4 KiB blocks
            return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": total, "f_bfree": total - used,
                    "f_bavail": total - used, "f_files": 1 << 16, "f_ffree": (1 << 16) - len(self.names),
                    "f_namemax": 255}

    def chmod(self, path, mode):
        with self._mutex:
            node = self._node(path)
            node.mode = (node.mode & ~0o7777) | (mode & 0o7777)
            return 0

    def symlink(self, target, source):
        with self._mutex:  # mfusepy's names: `target` is the new link, `source` what it points to
            self._parent(target)
            if target in self.names:
                raise fuse.FuseOSError(errno.EEXIST)
            # what a link points to is metadata: on the disk together with its name
            self.names[target] = Node(stat.S_IFLNK | 0o777, bytearray(source.encode()), source.encode())
            return 0

    def readlink(self, path):
        with self._mutex:
            return self._node(path).data.decode()

    def chown(self, path, uid, gid):
        return 0

    def utimens(self, path, times=None):
        return 0


class PowerCutMount:
    """A PowerCutFS mounted at `where` in a thread of this process."""

    def __init__(self, where: Path) -> None:
        self.where, self.fs = where, PowerCutFS()
        where.mkdir(parents=True, exist_ok=True)
        self._thread: threading.Thread | None = None
        self.mount()

    def mount(self) -> None:
        self._thread = threading.Thread(
            target=fuse.FUSE, args=(self.fs, str(self.where)),
            kwargs={"foreground": True, "nothreads": True}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not os.path.ismount(self.where):
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"could not mount the power-cut filesystem at {self.where}")
            time.sleep(0.02)

    def unmount(self) -> None:
        subprocess.run(["fusermount3", "-u", "-z", str(self.where)], check=True)
        if self._thread:
            self._thread.join(10)
            self._thread = None

    def cut(self, rng: random.Random | None = None) -> None:
        """The power goes off and comes back: unmount, lose what was not durable (with `rng`: some of it), mount
        again."""
        self.unmount()
        self.fs.power_loss(rng)
        self.mount()


def _resize(data: bytearray, length: int) -> None:
    if length < len(data):
        del data[length:]
    else:
        data.extend(bytes(length - len(data)))
