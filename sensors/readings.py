"""What decoders return: readings, and the result of decoding one input."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Reading:
    """One decoded value set, e.g. kind="heart_rate", data={"bpm": 72, ...}. Data is JSON-safe."""

    kind: str
    data: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "data": dict(self.data)}


@dataclass(frozen=True, slots=True)
class DecodeResult:
    """Readings decoded from one input, and the errors of the parts that could not be decoded."""

    readings: tuple[Reading, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        """The `edge ble decode` line: readings, or the error when nothing could be decoded."""
        if self.errors and not self.readings:
            return {"error": "; ".join(self.errors)}
        out: dict[str, Any] = {"readings": [r.to_json() for r in self.readings]}
        if self.errors:
            out["errors"] = list(self.errors)
        return out


@dataclass(frozen=True, slots=True)
class Advertisement:
    """One received advertisement, independent of bleak (so decoders and tests need no radio)."""

    address: str
    rssi: int
    name: str | None = None
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    service_data: Mapping[str, bytes] = field(default_factory=dict)
    service_uuids: tuple[str, ...] = ()
