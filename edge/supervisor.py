"""Starts, restarts (with capped backoff) and stops the gateway's long-running tasks.

A task that crashes is logged and restarted; it never takes the process down. Its state shows in /healthz.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from edge.clock import Clock

log = logging.getLogger(__name__)

TaskFactory = Callable[[], Awaitable[None]]
HealthProbe = Callable[[], dict[str, Any]]


@dataclass
class TaskState:
    name: str
    state: str = "starting"  # starting | running | backoff | stopped | failed
    restarts: int = 0
    last_error: str | None = None
    last_start: float = 0.0
    probe: HealthProbe | None = None
    critical: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "restarts": self.restarts, "last_error": self.last_error}
        if self.probe:
            try:
                out.update(self.probe())
            except Exception as e:  # a probe must never break /healthz
                out["probe_error"] = repr(e)
        return out

    @property
    def healthy(self) -> bool:
        ok = self.state == "running"
        if ok and self.probe:
            try:
                ok = bool(self.probe().get("ok", True))
            except Exception:
                ok = False
        return ok


def next_backoff(restarts: int, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Capped exponential backoff: 1, 2, 4 ... 60 seconds (the exponent capped too: 2 ** 1024 is no float)."""
    return min(cap, base * 2 ** min(max(0, restarts - 1), 62))


@dataclass
class Supervisor:
    clock: Clock = field(default_factory=Clock)
    stable_after: float = 60.0  # a run this long resets the backoff
    backoff_cap: float = 60.0
    states: dict[str, TaskState] = field(default_factory=dict)
    restart_counter: Callable[[str], None] | None = None
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def start(self, name: str, factory: TaskFactory, *, probe: HealthProbe | None = None,
              critical: bool = True) -> None:
        """Run factory() as a supervised task. `critical` tasks make /healthz degraded when not running."""
        if name in self._tasks:
            raise ValueError(f"task {name!r} is already supervised")
        self.states[name] = TaskState(name, probe=probe, critical=critical)
        self._tasks[name] = asyncio.create_task(self._keep_running(name, factory), name=f"supervised:{name}")

    async def _keep_running(self, name: str, factory: TaskFactory) -> None:
        st, streak = self.states[name], 0
        while True:
            st.state, st.last_start = "running", self.clock.monotonic()
            try:
                await factory()
                st.state = "stopped"
                log.info("task %s finished", name)
                return
            except asyncio.CancelledError:
                st.state = "stopped"
                raise
            except Exception as e:
                ran = self.clock.monotonic() - st.last_start
                streak = 1 if ran >= self.stable_after else streak + 1
                st.restarts += 1
                st.last_error = f"{type(e).__name__}: {e}"
                delay = next_backoff(streak, cap=self.backoff_cap)
                st.state = "backoff"
                log.exception("task %s crashed after %.1fs; restart %d in %.0fs", name, ran, st.restarts, delay)
                if self.restart_counter:
                    self.restart_counter(name)
                await asyncio.sleep(delay)

    def healthy(self) -> bool:
        return all(s.healthy for s in self.states.values() if s.critical)

    def health(self) -> dict[str, dict[str, Any]]:
        return {name: s.to_dict() for name, s in self.states.items()}

    async def stop(self, timeout: float = 10.0) -> None:
        """Cancel every task and wait for them (bounded), newest first."""
        tasks = list(self._tasks.values())[::-1]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        self._tasks.clear()
