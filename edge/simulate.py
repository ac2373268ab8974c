"""Simple simulated sources for the core's simulated building.

These stand in until each subsystem runs its real modules on simulated hardware (gpiozero's MockFactory, bleak's
scanner backend seam, camera files); each such subsystem removes its stand-in from here.
"""

from __future__ import annotations

import asyncio
import random

from edge.events import EventSink, NewEvent, Priority


async def bins(emit: EventSink, speed: float, seed: int) -> None:
    """Two bins fill up and are emptied; a bin at 80 % raises bin.full once per filling."""
    rng = random.Random(seed)
    level = {"bin-1": 55.0, "bin-2": 20.0}
    full = dict.fromkeys(level, False)
    while True:
        for name in level:
            level[name] = min(100.0, level[name] + rng.uniform(0.5, 3.0))
            await emit(NewEvent("bin.level", name, {"bin": name, "level_pct": round(level[name], 1)}))
            if level[name] >= 80 and not full[name]:
                full[name] = True
                await emit(NewEvent("bin.full", name, {"bin": name, "level_pct": round(level[name], 1)},
                                    Priority.HIGH))
            if level[name] >= 98:
                level[name], full[name] = 3.0, False
                await emit(NewEvent("bin.emptied", name, {"bin": name, "level_pct": 3.0}))
        await asyncio.sleep(2.0 / speed)
