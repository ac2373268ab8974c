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
