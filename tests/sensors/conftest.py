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
