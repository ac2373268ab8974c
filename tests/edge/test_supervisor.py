import asyncio
import os
import signal
import socket
import sqlite3
import threading
import time

import pytest

from edge.notify import Notifier
from edge.supervisor import Supervisor, next_backoff


def test_backoff_is_capped_exponential():
    assert [next_backoff(n, cap=60) for n in (1, 2, 3, 4, 7, 8, 20, 1025, 10**9)] == [1, 2, 4, 8, 60, 60, 60, 60, 60]


def test_a_crashing_task_is_restarted_and_never_takes_the_process_down():
    async def scenario():
        sup = Supervisor(backoff_cap=0.05)
        runs = []

        async def flaky():
            runs.append(1)
            if len(runs) < 3:
                raise RuntimeError(f"boom {len(runs)}")
            await asyncio.sleep(3600)

        async def steady():
            await asyncio.sleep(3600)

        sup.start("flaky", flaky)
        sup.start("steady", steady)
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(runs) >= 3 and sup.states["flaky"].state == "running":
                break
        health = sup.health()
        await sup.stop()
        return runs, health

    runs, health = asyncio.run(scenario())
    assert len(runs) == 3
    assert health["flaky"]["restarts"] == 2 and health["flaky"]["last_error"] == "RuntimeError: boom 2"
    assert health["flaky"]["state"] == "running" and health["steady"]["restarts"] == 0


def test_degraded_while_a_critical_task_is_in_backoff():
    async def scenario():
        sup = Supervisor(backoff_cap=30)

        async def broken():
            raise OSError("adapter missing")

        sup.start("ble", broken)
        await asyncio.sleep(0.05)
        healthy, state = sup.healthy(), sup.health()["ble"]["state"]
        await sup.stop()
        return healthy, state

    assert asyncio.run(scenario()) == (False, "backoff")


@pytest.fixture
def notify_socket(tmp_path):
    path = tmp_path / "notify.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(0.2)
    yield path, s
    s.close()


def read_notifications(sock, until: str, timeout: float = 20.0) -> list[str]:
    got, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
        if until in got:
            return got
    raise AssertionError(f"never got {until!r}; got {got}")


def test_systemd_ready_watchdog_and_stopping(make_gateway, notify_socket):
    path, sock = notify_socket
    gw = make_gateway(env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}).start()
    got = read_notifications(sock, "READY=1")
    got += read_notifications(sock, "WATCHDOG=1")
    got += read_notifications(sock, "WATCHDOG=1")
    assert gw.stop() == 0
    got += read_notifications(sock, "STOPPING=1")
    assert got.index("READY=1") < len(got) - 1 - got[::-1].index("STOPPING=1")


def test_no_watchdog_pet_while_the_store_is_stuck(make_gateway, notify_socket):
    path, sock = notify_socket
    gw = make_gateway(env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}).start()
    read_notifications(sock, "WATCHDOG=1")
    blocker = sqlite3.connect(gw.db, timeout=10)
    blocker.execute("BEGIN EXCLUSIVE")  # the writer cannot commit: the store is not healthy
    try:
        os.kill(gw.proc.pid, 0)
        drained = time.monotonic() + 0.5
        while time.monotonic() < drained:  # forget pets sent before the lock took hold
            try:
                sock.recv(4096)
            except TimeoutError:
                pass
        pets = []
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            try:
                pets.append(sock.recv(4096).decode())
            except TimeoutError:
                pass
        assert "WATCHDOG=1" not in pets
    finally:
        blocker.rollback()
        blocker.close()
    read_notifications(sock, "WATCHDOG=1")  # and it recovers


def test_sigterm_shuts_down_cleanly(gateway):
    gateway.post({"kind": "bin.level", "source": "b", "data": {}})
    gateway.proc.send_signal(signal.SIGTERM)
    assert gateway.proc.wait(20) == 0
    log = gateway.log.read_text()
    assert '"msg": "stopping"' in log and "Traceback" not in log
    conn = sqlite3.connect(gateway.db)
    assert conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
    assert conn.execute("SELECT count(*) FROM events WHERE kind = 'bin.level'").fetchone() == (1,)


def test_notify_never_blocks_when_nobody_reads(notify_socket):
    """A reader that stops reading fills its queue (net.unix.max_dgram_qlen: 10 here, 512 on some kernels); a
    blocking send would then hang the event loop and SIGTERM with it (seen once in CI). Further messages are
    dropped with a warning instead."""
    path, sock = notify_socket
    notifier = Notifier(str(path))
    sent: list[bool] = []
    sender = threading.Thread(target=lambda: sent.extend(notifier.watchdog() for _ in range(2000)), daemon=True)
    sender.start()
    sender.join(30)
    assert not sender.is_alive(), "send blocked on a full notify socket"
    assert sent[0] and not sent[-1]  # the first got through, then the queue filled and the rest were dropped
    assert sock.recv(4096) == b"WATCHDOG=1"
