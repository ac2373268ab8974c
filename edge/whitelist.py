"""The residents' plates that open the car-park gate: those in the configuration ([gate] residents) and the list
pushed over the API (PUT /api/v1/gate/whitelist) or by the central server. The pushed list replaces the previous one
as a whole and is kept in a JSON file beside the database, so it survives restarts.

`replace()` is the one way to change the pushed list (the API and the sync downlink both call it): every plate is
checked first, and a list with a bad plate changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.clock import parse_rfc3339, rfc3339
from edge.errors import BadPlateError, WhitelistWriteError

log = logging.getLogger(__name__)

MAX_PLATES = 20_000
# a province (or 使/WJ-style special) character, the city letter, then 4-7 letters, digits or a special character
PLATE_RE = re.compile(r"^[\u4e00-\u9fff][A-Z0-9][A-Z0-9\u4e00-\u9fff]{4,7}$")
_SEPARATORS = re.compile(r"[\s·•.\-_]")


def normalise_plate(text: str) -> str:
    """湘a·12345 / 湘Ａ 12345 -> 湘A12345: full-width to plain letters, upper case, no separators."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper()


def check_plates(plates: Iterable[object], where: str = "plates") -> list[str]:
    """The normalised plates, in order, without repeats; BadPlateError naming the entries that are not plates."""
    out: dict[str, None] = {}
    bad: list[str] = []
    for i, p in enumerate(plates):
        plate = normalise_plate(p) if isinstance(p, str) else None
        if plate is None or not PLATE_RE.match(plate):
            bad.append(f"{where}[{i}] = {p!r}")
        else:
            out[plate] = None
    if bad:
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise BadPlateError("not a Chinese plate number (e.g. 湘A12345): " + "; ".join(bad[:5]) + more)
    if len(out) > MAX_PLATES:
        raise BadPlateError(f"{len(out)} plates; at most {MAX_PLATES} are allowed")
    return list(out)


@dataclass(frozen=True)
class Pushed:
    """The last list pushed, when and by whom (api, upstream ...)."""

    plates: tuple[str, ...] = ()
    updated: datetime | None = None
    origin: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"plates": list(self.plates), "updated": rfc3339(self.updated) if self.updated else None,
                "origin": self.origin}


class Whitelist:
    """Configured plates plus the pushed list; `path` is where the pushed list is kept (None: memory only)."""

    def __init__(self, configured: Iterable[str], path: Path | None = None) -> None:
        self.configured = tuple(check_plates(configured, "gate.residents"))
        self.path = path
        self.pushed = load(path) if path else Pushed()
        self._all = frozenset(self.configured) | frozenset(self.pushed.plates)

    def __contains__(self, plate: object) -> bool:
        return isinstance(plate, str) and normalise_plate(plate) in self._all

    def __len__(self) -> int:
        return len(self._all)

    def replace(self, plates: Iterable[object], *, origin: str, now: datetime) -> Pushed:
        """Make `plates` the pushed list (the configured plates stay). Checked first, then written to disk, then
        used: a bad list or a failed write changes nothing. Raises BadPlateError or WhitelistWriteError."""
        pushed = Pushed(tuple(check_plates(plates)), now, origin)
        if self.path:
            save(self.path, pushed)
        self.pushed = pushed
        self._all = frozenset(self.configured) | frozenset(pushed.plates)
        log.info("gate whitelist: %d plates pushed by %s", len(pushed.plates), origin)
        return pushed

    def to_dict(self) -> dict[str, Any]:
        return {"configured": list(self.configured), "pushed": self.pushed.to_dict(), "count": len(self)}


def whitelist_path(database: Path) -> Path:
    """Beside the database: edge.db -> edge.db.whitelist.json (like its .seq file)."""
    return database.with_name(database.name + ".whitelist.json")


def load(path: Path) -> Pushed:
    """The pushed list kept at `path`; an absent file is an empty list. A damaged file is logged and set aside
    (renamed *.bad) so the gate still opens for the configured residents."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        updated = doc.get("updated")
        return Pushed(tuple(check_plates(doc["plates"], str(path))),
                      parse_rfc3339(updated) if updated else None, doc.get("origin"))
    except FileNotFoundError:
        return Pushed()
    except OSError as e:
        log.error("gate whitelist: cannot read %s (%s); pushed list empty until the next push", path, e)
        return Pushed()
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        log.error("gate whitelist: %s is damaged (%s); set aside as %s.bad, pushed list empty until the next push",
                  path, e, path.name)
        with contextlib.suppress(OSError):
            os.replace(path, path.with_name(path.name + ".bad"))
        return Pushed()


def save(path: Path, pushed: Pushed) -> None:
    """Write beside, fsync, rename: a power cut leaves the old list or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(pushed.to_dict(), f, ensure_ascii=False, indent=0)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise WhitelistWriteError(f"{path}: cannot write the whitelist: {e.strerror or e}") from None
