"""The gateway's own vital signs, recorded as low-priority `gateway.health` events."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

from edge.events import EventSink, NewEvent, Priority
from edge.store import EventStore


def rss_mb() -> float:
    """Resident memory of this process, from /proc (Linux only, as on the Pi)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def vitals(store: EventStore) -> dict[str, Any]:
    disk = shutil.disk_usage(store.path.parent)
    st = store.stats()
    return {
        "rss_mb": round(rss_mb(), 1),
        "load1": round(os.getloadavg()[0], 2),
        "disk_free_mb": disk.free // 2**20,
        "store_used_mb": round(st.used_bytes / 2**20, 2),
        "store_events": st.events,
        "unsynced": st.unsynced,
        "open_alerts": st.open_alerts,
    }


async def report(store: EventStore, emit: EventSink, interval: float) -> None:
    while True:
        data = await asyncio.to_thread(vitals, store)
        await emit(NewEvent("gateway.health", "gateway", data, Priority.LOW))
        await asyncio.sleep(interval)
