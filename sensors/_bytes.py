"""Small helpers shared by the decoders: length checks that raise the package's errors."""

from __future__ import annotations

from sensors.errors import TruncatedError


def need(data: bytes, length: int, what: str) -> None:
    """Raise TruncatedError unless `data` holds at least `length` bytes for `what`."""
    if len(data) < length:
        raise TruncatedError(f"{what}: need {length} bytes, got {len(data)} ({data.hex() or 'empty'})")
