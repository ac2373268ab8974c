from __future__ import annotations

from pathlib import Path

import pytest

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
