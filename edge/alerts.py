"""Which events open and close alerts: pure decisions, applied by the store in the event's own transaction.

Every critical or high event opens an alert. While it is open, more events of the same kind from the same source
count into it (repeated SOS presses of one incident are one alert). Some normal events close what they resolve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from edge.events import Priority

# kind that resolves -> kinds whose open alert (same source) it closes
RESOLVES: dict[str, tuple[str, ...]] = {
    "gateway.disk_ok": ("gateway.disk_full",),
    "bin.emptied": ("bin.full",),
    "bin.sensor_ok": ("bin.sensor_fault",),
    "light.restored": ("light.fault",),
    "wristband.seen": ("wristband.missing",),
    "wristband.heart_rate_normal": ("wristband.heart_rate_alert",),
    "wristband.battery_ok": ("wristband.battery_low",),
    "sync.upstream_accepted": ("sync.upstream_refused",),
    "gate.camera_ok": ("gate.camera_fault",),
    "parking.camera_ok": ("parking.camera_fault",),
}

AlertState = Literal["open", "acked", "resolved"]


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    key: str
    kind: str
    source: str
    priority: Priority
    state: AlertState
    first_seq: int
    last_seq: int
    count: int
    opened_ts: datetime
    updated_ts: datetime
    acked_ts: datetime | None
    acked_by: str | None
    data: dict[str, Any]

    def to_dict(self, device_id: str) -> dict[str, Any]:
        from edge.clock import rfc3339

        return {
            "id": self.id,
            "kind": self.kind,
            "source": self.source,
            "priority": self.priority.value,
            "state": self.state,
            "event_id": f"{device_id}:{self.first_seq}",
            "last_event_id": f"{device_id}:{self.last_seq}",
            "count": self.count,
            "opened_ts": rfc3339(self.opened_ts),
            "updated_ts": rfc3339(self.updated_ts),
            "acked_ts": rfc3339(self.acked_ts) if self.acked_ts else None,
            "acked_by": self.acked_by,
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class OpenOrCount:
    key: str


@dataclass(frozen=True, slots=True)
class Resolve:
    keys: tuple[str, ...]


def alert_key(kind: str, source: str) -> str:
    return f"{kind}|{source}"


def decide(kind: str, source: str, priority: Priority) -> OpenOrCount | Resolve | None:
    """What an event does to alerts."""
    if priority.protected:
        return OpenOrCount(alert_key(kind, source))
    closes = RESOLVES.get(kind)
    if closes:
        return Resolve(tuple(alert_key(k, source) for k in closes))
    return None
