"""Fixtures of the sensors tests: BLE (captured adverts, a private D-Bus with dbusmock's BlueZ) and GPIO (devices
opened on the `pins` MockFactory of tests/conftest.py and closed before it, waiting for mock threads)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge.config import GpioConfig
from sensors.gpio import GpioDevices

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ble"


def load_hex(name: str) -> bytes:
    """A fixture file: '#' comment lines saying where the bytes come from, then hex."""
    lines = (FIXTURES / f"{name}.hex").read_text().splitlines()
    return bytes.fromhex("".join(line for line in lines if not line.startswith("#")))


@pytest.fixture
def hexfix():
    return load_hex


@pytest.fixture
def private_bus(monkeypatch):
    """A private D-Bus as the 'system bus' of this test; skips only when the Debian packages are missing."""
    from tests.sensors.bluez_mock import PrivateBus, missing_requirements

    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    bus = PrivateBus()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    yield bus
    bus.close()


@pytest.fixture
def bluez(private_bus):
    """dbusmock's bluez5 template on the private bus."""
    private_bus.start_bluez()
    return private_bus


# ---- GPIO -----------------------------------------------------------------------------------------------------


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
