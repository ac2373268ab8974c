"""A private D-Bus with python-dbusmock's bluez5 template, for running bleak's real BlueZ backend.

dbusmock runs as its own process under Debian's python3 (`python3-dbusmock`), so the test venv needs
no dbus-python; the test side talks to it over D-Bus with dbus-fast, which bleak already brings.
Two quirks of the template are worked around here: bleak 3 needs an adapter `Roles` property, and
the template's AddDevice publishes ManufacturerData with the wrong D-Bus type, so devices are made
with the generic AddObject and announced with InterfacesAdded by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

SYSTEM_PYTHON = "/usr/bin/python3"
MOCK_IFACE = "org.freedesktop.DBus.Mock"
DEVICE_IFACE = "org.bluez.Device1"
APT_HINT = "apt-get install dbus-daemon python3-dbusmock"


def missing_requirements() -> str | None:
    """Why the mock cannot run here, or None."""
    if shutil.which("dbus-daemon") is None:
        return f"dbus-daemon not installed ({APT_HINT})"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import dbusmock.templates.bluez5"],
                           capture_output=True, check=False) if Path(SYSTEM_PYTHON).exists() else None
    if probe is None or probe.returncode != 0:
        return f"python3-dbusmock not installed for {SYSTEM_PYTHON} ({APT_HINT})"
    return None


class PrivateBus:
    """dbus-daemon on a socket in a temporary directory, and optionally bluez5 mocked on it."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="edge-dbus-")
        self._procs: list[subprocess.Popen[bytes]] = []
        sock = Path(self._dir.name) / "bus"
        daemon = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address=1", f"--address=unix:path={sock}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._procs.append(daemon)
        assert daemon.stdout is not None
        self.address = daemon.stdout.readline().decode().strip()
        if not self.address:
            self.close()
            raise RuntimeError("dbus-daemon did not print its address")

    def start_bluez(self, timeout_s: float = 10.0) -> None:
        env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address}
        mock = subprocess.Popen([SYSTEM_PYTHON, "-m", "dbusmock", "--template", "bluez5"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._procs.append(mock)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:  # wait until org.bluez owns its name
            probe = subprocess.run(
                ["dbus-send", f"--bus={self.address}", "--print-reply", "--dest=org.freedesktop.DBus",
                 "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:org.bluez"],
                capture_output=True, text=True, check=False)
            if "boolean true" in probe.stdout:
                return
            if mock.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("dbusmock bluez5 did not come up")

    def close(self) -> None:
        for proc in reversed(self._procs):
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
        self._procs.clear()
        self._dir.cleanup()


_SET = "self.Set('org.bluez.Device1', '{0}', dbus.Boolean({1}, variant_level=1))"
_DEVICE_METHODS = [
    ["Connect", "", "", "; ".join(_SET.format(p, True) for p in ("Connected", "ServicesResolved"))],
    ["Disconnect", "", "", "; ".join(_SET.format(p, False) for p in ("ServicesResolved", "Connected"))],
]


class BluezControl:
    """Async handle on the mocked BlueZ: adapters, devices, advertisements."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus

    @classmethod
    async def connect(cls) -> BluezControl:
        return cls(await MessageBus(bus_type=BusType.SYSTEM).connect())

    async def call(self, path: str, iface: str, member: str, sig: str, body: list) -> list:
        reply = await self.bus.call(Message(destination="org.bluez", path=path, interface=iface,
                                            member=member, signature=sig, body=body))
        assert reply is not None
        if reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"{member}: {reply.error_name} {reply.body}")
        return reply.body

    async def add_adapter(self, name: str = "hci0") -> str:
        (path,) = await self.call("/", "org.bluez.Mock", "AddAdapter", "ss", [name, "edge-test"])
        await self.call(path, MOCK_IFACE, "AddProperty", "ssv",
                        ["org.bluez.Adapter1", "Roles", Variant("as", ["central", "peripheral"])])
        # real BlueZ announces an adapter with Roles; announce it again, complete, for running clients
        (props,) = await self.call(path, "org.freedesktop.DBus.Properties", "GetAll", "s",
                                   ["org.bluez.Adapter1"])
        await self.call("/", MOCK_IFACE, "EmitSignal", "sssav", [
            "org.freedesktop.DBus.ObjectManager", "InterfacesAdded", "oa{sa{sv}}",
            [Variant("o", path), Variant("a{sa{sv}}", {"org.bluez.Adapter1": props})]])
        return path

    async def remove_adapter(self, name: str = "hci0") -> None:
        await self.call("/", "org.bluez.Mock", "RemoveAdapterWithDevices", "s", [name])

    async def add_device(self, address: str, name: str, adapter: str = "hci0", rssi: int = -70) -> str:
        path = f"/org/bluez/{adapter}/dev_{address.replace(':', '_').upper()}"
        props = {
            "Address": Variant("s", address), "AddressType": Variant("s", "random"),
            "Name": Variant("s", name), "Alias": Variant("s", name),
            "Adapter": Variant("o", f"/org/bluez/{adapter}"), "Paired": Variant("b", False),
            "Connected": Variant("b", False), "ServicesResolved": Variant("b", False),
            "UUIDs": Variant("as", []), "RSSI": Variant("n", rssi),
            "ManufacturerData": Variant("a{qv}", {}), "ServiceData": Variant("a{sv}", {}),
        }
        await self._add_object(path, DEVICE_IFACE, props, _DEVICE_METHODS)
        return path

    async def _add_object(self, path: str, iface: str, props: dict, methods: list) -> None:
        await self.call("/", MOCK_IFACE, "AddObject", "ssa{sv}a(ssss)", [path, iface, props, methods])
        await self.call("/", MOCK_IFACE, "EmitSignal", "sssav", [
            "org.freedesktop.DBus.ObjectManager", "InterfacesAdded", "oa{sa{sv}}",
            [Variant("o", path), Variant("a{sa{sv}}", {iface: props})]])

    async def add_gatt(self, device_path: str, service_uuid: str, char_uuid: str) -> str:
        """One primary service with one notifying characteristic; returns the characteristic's path."""
        service = f"{device_path}/service000c"
        await self._add_object(service, "org.bluez.GattService1", {
            "UUID": Variant("s", service_uuid), "Primary": Variant("b", True),
            "Device": Variant("o", device_path)}, [])
        char = f"{service}/char000d"
        await self._add_object(char, "org.bluez.GattCharacteristic1", {
            "UUID": Variant("s", char_uuid), "Service": Variant("o", service),
            "Flags": Variant("as", ["notify"]), "Value": Variant("ay", b""),
            "Notifying": Variant("b", False)},
            [["StartNotify", "", "", ""], ["StopNotify", "", "", ""]])
        return char

    async def notify(self, char_path: str, value: bytes) -> None:
        await self.call(char_path, MOCK_IFACE, "EmitSignal", "sssav", [
            "org.freedesktop.DBus.Properties", "PropertiesChanged", "sa{sv}as",
            [Variant("s", "org.bluez.GattCharacteristic1"),
             Variant("a{sv}", {"Value": Variant("ay", value)}), Variant("as", [])]])

    async def drop_connection(self, device_path: str) -> None:
        """The band walks out of range: BlueZ reports it disconnected."""
        for prop in ("ServicesResolved", "Connected"):
            await self.call(device_path, "org.freedesktop.DBus.Properties", "Set", "ssv",
                            [DEVICE_IFACE, prop, Variant("b", False)])

    async def calls(self, path: str, method: str) -> int:
        (found,) = await self.call(path, MOCK_IFACE, "GetMethodCalls", "s", [method])
        return len(found)

    async def advertise(self, path: str, manufacturer_data: dict[int, bytes], rssi: int = -60) -> None:
        """What bluetoothd does when an advertisement arrives: PropertiesChanged on the device."""
        changed = {"ManufacturerData": Variant("a{qv}", {k: Variant("ay", v)
                                                         for k, v in manufacturer_data.items()}),
                   "RSSI": Variant("n", rssi)}
        await self.call(path, MOCK_IFACE, "EmitSignal", "sssav", [
            "org.freedesktop.DBus.Properties", "PropertiesChanged", "sa{sv}as",
            [Variant("s", DEVICE_IFACE), Variant("a{sv}", changed), Variant("as", [])]])

    def disconnect(self) -> None:
        self.bus.disconnect()
