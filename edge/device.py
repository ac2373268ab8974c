"""What the gateway knows about the board it runs on: the serial the installer claims it by, and its model."""

from __future__ import annotations

import re
from pathlib import Path

PROC = Path("/proc")
_CPUINFO_SERIAL = re.compile(r"^Serial\s*:\s*([0-9A-Fa-f]+)\s*$", re.MULTILINE)


def serial(proc: Path = PROC) -> str | None:
    """The board's serial: /proc/device-tree/serial-number on a Raspberry Pi, else the `Serial` line of
    /proc/cpuinfo (older kernels); None on machines that have neither (a PC)."""
    text = _read(proc / "device-tree" / "serial-number")
    if text:
        return text.lower()
    found = _CPUINFO_SERIAL.search(_read(proc / "cpuinfo") or "")
    if found and found.group(1).strip("0"):
        return found.group(1).lower()
    return None


def model(proc: Path = PROC) -> str | None:
    """E.g. "Raspberry Pi 4 Model B Rev 1.5"; None off a Pi."""
    return _read(proc / "device-tree" / "model")


def _read(path: Path) -> str | None:
    try:
        text = path.read_bytes().decode("ascii", "replace")
    except OSError:
        return None
    return text.replace("\0", "").strip() or None
