"""The reading commands on a file at storage.path that is not a readable event database: one line, no traceback."""

import sqlite3
from pathlib import Path

import pytest

from edge.cli import main
from edge.errors import StoreError
from edge.events import NewEvent
from edge.reader import EventReader
from edge.store import EventStore
from tests.conftest import base_config, to_toml

READING = (["db", "stats"], ["events", "tail", "--no-follow"], ["sync", "status"])


def damaged(folder: Path) -> Path:
    """A real store whose pages after the first two are overwritten: it opens, and its queries fail."""
    path = folder / "edge.db"
    store = EventStore.open(path, device_id="t-gw1", building_id="b01")
    store.append([NewEvent("bin.level", "bin-1", {"level_pct": i, "pad": "x" * 200}) for i in range(2000)])
    store.close()
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(4096 * 2)
        f.write(b"\xff" * (size - 4096 * 2))
    return path


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]) -> str:
    """`edge COMMAND --config` in this process; returns what it printed on leaving (status 1)."""
    monkeypatch.delenv("EDGE_API_TOKEN", raising=False)
    config = tmp_path / "edge.toml"
    config.write_text(to_toml(base_config(tmp_path)))
    with pytest.raises(SystemExit) as e:
        main([*command, "--config", str(config)])
    assert isinstance(e.value.code, str)  # printed to stderr, status 1 (as for a missing or locked file)
    return e.value.code


@pytest.mark.parametrize("command", READING)
def test_an_empty_file_is_named_not_a_traceback(tmp_path, monkeypatch, command):
    (tmp_path / "edge.db").write_bytes(b"")
    message = run(tmp_path, monkeypatch, command)
    assert message == (f"edge {command[0]} {command[1]}: {tmp_path / 'edge.db'}: not an edge-gateway event database "
                       "(no table events, meta, alerts; is storage.path right?)")


@pytest.mark.parametrize("command", READING)
def test_another_programs_database_is_named(tmp_path, monkeypatch, command):
    with sqlite3.connect(tmp_path / "edge.db") as conn:
        conn.execute("CREATE TABLE events (x)")
    conn.close()
    assert "not an edge-gateway event database (no table meta, alerts;" in run(tmp_path, monkeypatch, command)


@pytest.mark.parametrize("command", READING)
def test_damaged_pages_are_a_clear_error(tmp_path, monkeypatch, command):
    path = damaged(tmp_path)
    message = run(tmp_path, monkeypatch, command)
    assert message == f"edge {command[0]} {command[1]}: {path}: cannot read: database disk image is malformed"


def test_the_readers_queries_raise_store_errors(tmp_path):
    path = damaged(tmp_path)
    with pytest.raises(StoreError, match="database disk image is malformed"):
        EventReader.open(path, device_id="t-gw1", building_id="b01")
    reader = EventReader(path, device_id="t-gw1", building_id="b01")  # as the running gateway's, opened when whole
    try:
        for query in (reader.stats, lambda: reader.event_rows(limit=5000), lambda: reader.query(
                "SELECT count(*) FROM events WHERE data LIKE '%zzz%'")):
            with pytest.raises(StoreError, match="database disk image is malformed"):
                query()
    finally:
        reader.close()


def test_a_missing_table_is_still_an_operational_error_for_sync(tmp_path):
    # sync/status.py tells a database that sync never ran on by sqlite3.OperationalError on its tables
    store = EventStore.open(tmp_path / "edge.db", device_id="t-gw1", building_id="b01")
    store.close()
    reader = EventReader.open(tmp_path / "edge.db", device_id="t-gw1", building_id="b01")
    try:
        with pytest.raises(sqlite3.OperationalError) as e:
            reader.query("SELECT * FROM no_such_table")
        assert isinstance(e.value, StoreError)
    finally:
        reader.close()
