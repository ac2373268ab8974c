"""The board's serial, from a folder standing in for /proc."""

from __future__ import annotations

from pathlib import Path

from edge import device


def test_serial_from_the_device_tree(tmp_path: Path) -> None:
    (tmp_path / "device-tree").mkdir()
    (tmp_path / "device-tree/serial-number").write_bytes(b"10000000AbCdEf01\x00")
    (tmp_path / "device-tree/model").write_bytes(b"Raspberry Pi 4 Model B Rev 1.5\x00")
    assert device.serial(tmp_path) == "10000000abcdef01"
    assert device.model(tmp_path) == "Raspberry Pi 4 Model B Rev 1.5"


def test_serial_from_cpuinfo_on_older_kernels(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nHardware\t: BCM2835\nRevision\t: c03115\n"
                                      "Serial\t\t: 10000000deadbeef\nModel\t\t: Raspberry Pi 4\n")
    assert device.serial(tmp_path) == "10000000deadbeef"


def test_no_serial_off_a_pi(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\n")
    assert device.serial(tmp_path) is None
    (tmp_path / "cpuinfo").write_text("Serial\t\t: 0000000000000000\n")
    assert device.serial(tmp_path) is None
    assert device.model(tmp_path) is None
