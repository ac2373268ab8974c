"""The residents' plates that open the car-park gate: those in the configuration ([gate] residents) and the list
pushed as the `plate_whitelist` section, over the local API (PUT /api/v1/gate/whitelist or
/api/v1/settings/plate_whitelist) or by the central server's downlink. A push replaces the previous list as a whole;
keeping it on disk across restarts is the settings' and the downlink's job (pushed-settings.json, downlink.json
beside the database). Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge.clock import rfc3339
from edge.errors import BadPlateError

SECTION = "plate_whitelist"  # the pushed section's name (downlink and local settings)
MAX_PLATES = 20_000  # entries in a list, repeats included (the API's bound and this module's agree)
MAX_NAMED = 20  # bad entries named in an error (then how many more): a bound on the message
# What the plate reader can read (vision.plates.PLATE_PATTERN, copied so that the whitelist does not import OpenCV;
# tests/edge/test_whitelist.py checks they are the same): a province, the city letter (no I or O), then the layouts
# of blue, yellow, white and black plates, green new-energy plates, and embassy plates. A plate it can never read
# would never open the gate.
_P = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_E = "DABCEFGHJK"
PLATE_RE = re.compile(
    rf"^(?:[{_P}][A-HJ-NP-Z][A-HJ-NP-Z0-9]{{4}}[A-HJ-NP-Z0-9警学挂港澳领]"
    rf"|[{_P}][A-HJ-NP-Z](?:[{_E}][A-HJ-NP-Z0-9][0-9]{{4}}|[0-9]{{5}}[{_E}])"
    r"|使[0-9]{6})$"
)
_SEPARATORS = re.compile(r"[\s·•.\-_]")


def normalise_plate(text: str) -> str:
    """湘a·12345 / 湘Ａ 12345 -> 湘A12345: full-width to plain letters, upper case, no separators."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper()


def check_plates(plates: Iterable[object], where: str = "plates") -> list[str]:
    """The normalised plates, in order, without repeats; BadPlateError naming the entries that are not plates (the
    first MAX_NAMED of them, and how many more), or saying the list has more than MAX_PLATES entries."""
    entries = list(plates)
    if len(entries) > MAX_PLATES:
        raise BadPlateError(f"{len(entries)} entries; at most {MAX_PLATES} are allowed")
    out: dict[str, None] = {}
    bad: list[str] = []
    for i, p in enumerate(entries):
        plate = normalise_plate(p) if isinstance(p, str) else None
        if plate is None or not PLATE_RE.match(plate):
            bad.append(f"{where}[{i}] = {p!r}")
        else:
            out[plate] = None
    if bad:
        more = f" (and {len(bad) - MAX_NAMED} more)" if len(bad) > MAX_NAMED else ""
        raise BadPlateError("not a Chinese plate number the gate can read (e.g. 湘A12345; no letter I or O): "
                            + "; ".join(bad[:MAX_NAMED]) + more)
    return list(out)


def whitelist_section(raw: object) -> list[str]:
    """The `plate_whitelist` section: a JSON list of plates. ValueError (BadPlateError) says what is wrong."""
    if not isinstance(raw, list):
        raise BadPlateError(f"a JSON list of plates such as [\"湘A12345\"], not {type(raw).__name__}")
    return check_plates(raw)


@dataclass(frozen=True)
class Pushed:
    """The last list pushed and when it was pushed (None: a saved copy that does not say)."""

    plates: tuple[str, ...] = ()
    updated: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"plates": list(self.plates), "updated": rfc3339(self.updated) if self.updated else None}


class Whitelist:
    """Configured plates plus the pushed list."""

    def __init__(self, configured: Iterable[str]) -> None:
        self.configured = tuple(check_plates(configured, "gate.residents"))
        self.pushed = Pushed()
        self._all = frozenset(self.configured)

    def __contains__(self, plate: object) -> bool:
        return isinstance(plate, str) and normalise_plate(plate) in self._all

    def __len__(self) -> int:
        return len(self._all)

    def replace(self, plates: Iterable[object], updated: datetime | None) -> dict[str, int]:
        """Make `plates` the pushed list (the configured plates stay), pushed at `updated` (None: not known); all
        checked first, so a bad list changes nothing (BadPlateError). Returns the summary recorded in
        `gateway.config_applied`. The settings section's applier (edge/main.py)."""
        self.pushed = Pushed(tuple(check_plates(plates)), updated)
        self._all = frozenset(self.configured) | frozenset(self.pushed.plates)
        return {"plates": len(self.pushed.plates), "total": len(self)}

    def to_dict(self) -> dict[str, Any]:
        return {"configured": list(self.configured), "pushed": self.pushed.to_dict(), "count": len(self)}
