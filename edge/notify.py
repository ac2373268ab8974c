"""systemd's notify protocol, written to $NOTIFY_SOCKET directly: a datagram per message, a few lines."""

from __future__ import annotations

import logging
import socket

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, socket_path: str | None) -> None:
        self._addr = None
        if socket_path:
            # a leading '@' names a socket in the abstract namespace
            self._addr = "\0" + socket_path[1:] if socket_path.startswith("@") else socket_path

    @property
    def enabled(self) -> bool:
        return self._addr is not None

    def send(self, message: str) -> bool:
        if self._addr is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(self._addr)
                # never wait: when the reader falls behind its queue fills (10 datagrams by default) and a
                # blocking send would hang the event loop, and with it SIGTERM; a lost ping is harmless
                s.send(message.encode(), socket.MSG_DONTWAIT)
            return True
        except OSError as e:
            log.warning("sd_notify %r failed: %s", message, e)
            return False

    def ready(self) -> bool:
        return self.send("READY=1")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")
