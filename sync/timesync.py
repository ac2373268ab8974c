"""Is the system clock right yet? A Raspberry Pi has no battery clock: until NTP sets it, wall time is whatever
the last shutdown saved (or 1970). Events keep their boot and monotonic time, so once the clock is synchronised
the true time of earlier events of the same boot is mono + (wall - mono) measured then.

`ClockWatch` asks the kernel (the probe) until the clock is synchronised, records the boot's anchor in the
database and, if events of this boot were stamped with a wrong clock, reports a `gateway.clock_synced` event that
lets the central server correct what it already received flagged `"clock": "unsynced"`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from edge.clock import Clock
from edge.doctor import kernel_clock_state
from edge.events import EventSink, NewEvent
from edge.store import EventStore
from sync.state import SyncState
from sync.wire import CORRECTION_MIN_S, Anchor

log = logging.getLogger(__name__)

ClockProbe = Callable[[], bool]


def system_clock_synchronised() -> bool:
    """What `timedatectl` shows as "System clock synchronized", asked of the kernel by adjtimex(2) read-only (the
    doctor's check, so that both say the same); OSError when the kernel would not say."""
    state = kernel_clock_state()
    if state.synchronised is None:
        raise OSError("adjtimex(2) gave no answer")
    return state.synchronised


class ClockWatch:
    def __init__(self, store: EventStore, state: SyncState, clock: Clock, probe: ClockProbe, emit: EventSink,
                 every: float) -> None:
        self.store, self.state, self.clock, self.probe, self.emit, self.every = (
            store, state, clock, probe, emit, every)
        self.synced: bool | None = None  # None until the first probe
        self._unsynced_offset: float | None = None
        self._unreadable = False  # the probe failed last time (said once, not every `every` seconds)

    async def run(self) -> None:
        """Probe until the clock is synchronised, then stop: one anchor per boot."""
        while not await self.check():
            await asyncio.sleep(self.every)

    async def check(self) -> bool:
        boot = self.store.boot_row
        if await asyncio.to_thread(self.state.anchor_of, boot) is not None:
            self.synced = True
            return True
        try:
            synced = await asyncio.to_thread(self.probe)
        except OSError as e:
            if not self._unreadable:
                log.warning("cannot tell whether the clock is synchronised (%s); timestamps stay flagged", e)
            self._unreadable, synced = True, False
        else:
            self._unreadable = False
        mono = self.clock.monotonic()
        offset = self.clock.utcnow().timestamp() - mono
        if not synced:
            if self.synced is None:
                log.warning("system clock not synchronised yet; event timestamps are flagged until it is")
            self.synced, self._unsynced_offset = False, offset
            return False
        self.synced = True
        step = None if self._unsynced_offset is None else offset - self._unsynced_offset
        await self.state.add_anchor(boot, Anchor(mono, offset), step)
        await self._report(boot, mono, offset, step)
        return True

    async def _report(self, boot: int, mono: float, offset: float, step: float | None) -> None:
        """Tell upstream how to correct this boot's events stamped before now, if any were off."""
        found = await asyncio.to_thread(self.store.query,
            "SELECT count(*), min(seq), max(seq) FROM events WHERE boot = ? AND mono < ? "
            "AND abs((julianday(ts) - 2440587.5) * 86400.0 - (mono + ?)) >= ?",
            (boot, mono, offset, CORRECTION_MIN_S))
        n, first, last = found[0]
        boot_id = (await asyncio.to_thread(self.store.query, "SELECT boot_id FROM boots WHERE id = ?", (boot,)))
        if step is not None:
            log.info("system clock synchronised (stepped %.3f s); %d earlier events corrected", step, n)
        if n:
            await self.emit(NewEvent("gateway.clock_synced", "sync", {
                "boot": boot_id[0][0] if boot_id else str(boot), "offset_s": round(offset, 3),
                "synced_mono": round(mono, 3), "step_s": None if step is None else round(step, 3),
                "events": n, "first_seq": first, "last_seq": last}))
