"""Errors of the sensors package: one root, named subclasses with built-in mix-ins."""


class SensorError(Exception):
    """Root of every error raised by the sensors package."""


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
