"""Errors of the sensors package: one root, named subclasses with built-in mix-ins."""


class SensorError(Exception):
    """Root of every error raised by the sensors package."""


class DecodeError(SensorError, ValueError):
    """Bytes that do not follow the format they claim to be in."""


class TruncatedError(DecodeError):
    """A payload shorter than its format (or its own flags) requires."""


class DecryptionError(DecodeError):
    """An encrypted payload that cannot be decrypted: no key, or a wrong one."""


class BleUnavailableError(SensorError):
    """No usable Bluetooth: no D-Bus, no BlueZ, no adapter, or the adapter is off."""


class GpioError(SensorError):
    """GPIO hardware cannot be used as configured."""


class PinClaimError(GpioError, ValueError):
    """A configured pin cannot be claimed (in use, invalid, no GPIO chip); `key` is the config key naming it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class UnknownDeviceError(GpioError, KeyError):
    """No configured device (e.g. relay) of that name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
