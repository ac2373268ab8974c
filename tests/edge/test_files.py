"""write_atomic: a crash or power cut leaves the old content or the new, never half of it, and nothing lost that
it had returned from."""

import os
import random
import subprocess
import sys
import threading
import time

import pytest

from edge.files import write_atomic

# Writes version 1, 2, ... of a 64 KiB file (the version repeated, so a torn file shows), saying each once written.
WRITER = """
import sys
from pathlib import Path
from edge.files import write_atomic
path = Path(sys.argv[1])
for version in range(1, 1_000_000):
    write_atomic(path, f"{version:08d}\\n" * 8192)
    print(version, flush=True)
"""


def test_power_cuts_leave_a_whole_version_no_older_than_the_last_written(disk):
    path = disk.where / "data" / "settings.json"
    rng = random.Random(7)
    done = 0
    for round_ in range(8):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        versions: list[int] = []
        reader = threading.Thread(target=lambda c=child, v=versions: v.extend(int(x) for x in c.stdout))
        reader.start()
        time.sleep(rng.uniform(0.3, 0.8))
        child.kill()
        child.wait()
        reader.join()
        assert versions, "the writer never finished a write"
        done = versions[-1]
        disk.cut(None if round_ == 0 else random.Random(round_))
        text = path.read_text()
        kept = int(text[:8])
        assert text == f"{kept:08d}\n" * 8192, f"round {round_}: a torn file"
        # the version being written when the power went may have landed (renamed, its folder not yet synced)
        assert done <= kept <= done + 1, f"round {round_}: version {kept} kept, {done} was written"
        others = {p.name for p in path.parent.iterdir()} - {path.name}
        assert others <= {f".settings.json.{child.pid}.tmp"}  # the write cut short; those before are cleared away


def test_a_full_disk_leaves_the_old_file_and_no_partial_one(small_disk):
    path = small_disk / "edge.toml"
    path.write_text("old")
    filler = small_disk / "someone-elses-file"
    free = os.statvfs(small_disk)
    filler.write_bytes(bytes(free.f_bavail * free.f_frsize - 65536))  # leave less room than the new file needs
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, "new\n" * 100_000)  # 400 kB: the first write comes back short, the next fails
    assert path.read_text() == "old"
    assert sorted(p.name for p in small_disk.iterdir()) == ["edge.toml", "someone-elses-file"]
