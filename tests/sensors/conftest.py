"""GPIO fixtures: devices opened on the `pins` MockFactory (tests/conftest.py) and closed before it; waiting."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge.config import GpioConfig
from sensors.gpio import GpioDevices


def wait_until(cond: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """gpiozero's mock pins run real threads: wait for a condition with a deadline, never a bare sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def gpio(**sections: Any) -> GpioConfig:
    return GpioConfig.model_validate(sections)


@pytest.fixture
def open_devices(pins: MockFactory) -> Iterator[Callable[[GpioConfig], GpioDevices]]:
    opened: list[GpioDevices] = []

    def open_(cfg: GpioConfig) -> GpioDevices:
        devices = GpioDevices.open(cfg, pins)
        opened.append(devices)
        return devices

    yield open_
    for d in opened:
        d.close()
