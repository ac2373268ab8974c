"""Every fault a camera subsystem raises is closed by its own "ok" event (gate and parking alike)."""

from __future__ import annotations

import pytest

from edge.events import NewEvent, Priority
from edge.store import EventStore


@pytest.mark.parametrize("kind", ["gate", "parking"])
def test_a_camera_back_closes_its_fault_alert(store: EventStore, kind: str) -> None:
    store.append([NewEvent(f"{kind}.camera_fault", "cam-1", {"camera": "cam-1", "error": "no frame"}, Priority.HIGH)])
    store.append([NewEvent(f"{kind}.camera_fault", "cam-2", {"camera": "cam-2", "error": "no frame"}, Priority.HIGH)])
    assert len(store.alerts(state="open")) == 2
    store.append([NewEvent(f"{kind}.camera_ok", "cam-1", {"camera": "cam-1"})])
    assert [a.source for a in store.alerts(state="open")] == ["cam-2"]  # only that camera's alert
