"""Errors of the sync package. One root, so callers can catch everything of ours at a boundary."""


class SyncError(Exception):
    """Root of the sync package's errors."""


class PullError(SyncError):
    """The reference pull client could not fetch, write or acknowledge a page."""


class DownlinkError(SyncError, ValueError):
    """A downlink config document is malformed; the message names the section and the problem."""
