"""Errors of the gateway core. One root, so callers can catch everything of ours at a boundary."""


class EdgeError(Exception):
    """Root of the gateway core's errors."""


class ConfigError(EdgeError):
    """The configuration file is missing or wrong; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class StoreError(EdgeError):
    """The event store could not do what was asked."""


class StoreFullError(StoreError):
    """The size bound is reached and only protected (critical/high) events are left."""


class EventError(EdgeError, ValueError):
    """An event is malformed (bad kind, priority, data or timestamp)."""


class ProvisionError(EdgeError):
    """A provisioning request (boot-partition file or `edge provision`) is refused; `problems` says why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class UpdateError(EdgeError):
    """A release could not be installed or switched to."""
