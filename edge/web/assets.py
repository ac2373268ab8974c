"""The pages, scripts and styles of the kiosk and the staff console, shipped in the package and served by the
gateway itself: the lobby screen works with no internet at all (no CDN, no web font; the system's CJK font)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from edge import __version__

STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def load(folder: Path = STATIC) -> dict[str, Asset]:
    """Every servable file by name, read once (a whitelist: nothing outside this folder can be asked for)."""
    assets = {}
    for path in sorted(folder.iterdir()):
        media = MEDIA_TYPES.get(path.suffix)
        if media and path.is_file():
            body = path.read_bytes()
            assets[path.name] = Asset(body, media, '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
    return assets


def version(assets: dict[str, Asset]) -> str:
    """Changes when any file changes: an open kiosk page reloads itself after an upgrade."""
    h = hashlib.sha256(__version__.encode())
    for name, a in sorted(assets.items()):
        h.update(name.encode() + a.etag.encode())
    return h.hexdigest()[:12]
