"""What goes on the wire: events as NDJSON lines (the contract's object plus documented clock fields), gzip, keys.

Pure: rows in, bytes out. A row is (seq, ts, kind, source, priority rank, data JSON, boot, mono) as stored.

Clock fields, added only to events whose `ts` was taken before the gateway's clock was synchronised:
- `"clock": "unsynced"`, `"boot"`, `"mono"`: no correction is known yet (it comes later as a
  `gateway.clock_synced` event for that boot: true ts = mono + offset_s), or never will be (the gateway
  rebooted before it ever synchronised).
- `"clock": "corrected"`, `"ts_device"`: `ts` has been corrected; `ts_device` is what the gateway recorded.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from edge.clock import parse_rfc3339, rfc3339

SYNC_COLUMNS = "seq, ts, kind, source, priority, data, boot, mono"
GZIP_LEVEL = 6  # measured (tests/bench/sync.py): level 6 is half the CPU of 9 for 1 byte more per event
CORRECTION_MIN_S = 1.0  # a correction smaller than this is noise of the measurement, not a wrong clock

Row = Sequence[Any]


def idempotency_key(device_id: str, first_seq: int, last_seq: int) -> str:
    return f"{device_id}:{first_seq}-{last_seq}"


@dataclass(frozen=True, slots=True)
class Anchor:
    """The moment a boot's clock was found synchronised: from then on ts is right, and before it the true time
    of an event is mono + offset (offset = wall - monotonic, measured once synchronised)."""

    synced_mono: float
    offset: float


@dataclass(frozen=True)
class TimeBase:
    anchors: Mapping[int, Anchor] = field(default_factory=dict)
    boots: Mapping[int, str] = field(default_factory=dict)  # boot row -> the kernel's boot id
    trusted: bool = False  # the clock is right from power-on (an RTC): no event is flagged

    def clock_fields(self, row: Row) -> tuple[str, str] | None:
        """(ts to send, extra JSON members) for an event whose ts needs flagging; None when ts is right."""
        if self.trusted or row[6] is None or row[7] is None:
            return None
        anchor = self.anchors.get(row[6])
        if anchor is None:
            boot = json.dumps(self.boots.get(row[6], str(row[6])))
            return row[1], f',"clock":"unsynced","boot":{boot},"mono":{row[7]:.3f}'
        if row[7] >= anchor.synced_mono:
            return None
        true = row[7] + anchor.offset
        if abs(true - parse_rfc3339(row[1]).timestamp()) < CORRECTION_MIN_S:
            return None
        return rfc3339(datetime.fromtimestamp(true, UTC)), f',"clock":"corrected","ts_device":"{row[1]}"'


def ndjson(rows: Iterable[Row], event_json: Callable[[Row], str], timebase: TimeBase) -> bytes:
    """The NDJSON body of a batch, one event a line, in the order given (seq order)."""
    anchors, trusted, lines = timebase.anchors, timebase.trusted, []
    for r in rows:
        anchor = anchors.get(r[6])
        if trusted or (anchor is not None and r[7] >= anchor.synced_mono):  # the common case: ts is right
            lines.append(event_json(r))
            continue
        fixed = timebase.clock_fields(r)
        if fixed is None:
            lines.append(event_json(r))
        else:
            ts, extra = fixed
            lines.append(event_json((r[0], ts, *r[2:]))[:-1] + extra + "}")
    if not lines:
        return b""
    return ("\n".join(lines) + "\n").encode()


def gzip_bytes(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    """gzip (RFC 1952) framing, as Content-Encoding: gzip expects."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding header admits gzip (a q of 0 refuses it)."""
    for part in (header or "").lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            q = params.strip().removeprefix("q=")
            try:
                return not params or float(q) > 0
            except ValueError:
                return True
    return False
