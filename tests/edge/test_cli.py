import json
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, base_config, to_toml


def edge(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout)


def test_help_of_every_command_explains_it():
    for args in (["--help"], ["run", "--help"], ["demo", "--help"], ["events", "tail", "--help"],
                 ["db", "stats", "--help"], ["config", "check", "--help"]):
        out = edge(*args)
        assert out.returncode == 0 and "usage: edge" in out.stdout, args
    assert "follow new ones" in edge("events", "tail", "--help").stdout


def test_events_tail_and_db_stats_read_a_running_gateway(gateway):
    gateway.post([{"kind": "bin.level", "source": "bin-1", "data": {"level_pct": i}} for i in range(3)])
    gateway.post({"kind": "wristband.sos", "source": "band-1", "priority": "critical", "data": {"flat": "1-101"}})
    cfg = str(gateway.config_path)
    out = edge("events", "tail", "--config", cfg, "--no-follow", "--json", "--kind", "bin.level")
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [e["data"]["level_pct"] for e in lines] == [0, 1, 2]
    out = edge("events", "tail", "--config", cfg, "--no-follow", "-n", "1")
    assert out.stdout.count("\n") == 1 and "wristband.sos" in out.stdout and "critical" in out.stdout
    stats = json.loads(edge("db", "stats", "--config", cfg, "--json").stdout)
    assert stats["by_priority"]["critical"] == 1 and stats["open_alerts"] == 1
    assert "open alerts     1" in edge("db", "stats", "--config", cfg).stdout


def test_events_tail_follows_new_events(gateway):
    proc = subprocess.Popen([sys.executable, "-m", "edge", "events", "tail", "--config", str(gateway.config_path),
                             "--json", "--kind", "light.fault", "--interval", "0.1"],
                            stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        time.sleep(1.0)
        gateway.post({"kind": "light.fault", "source": "corridor-3", "priority": "high", "data": {}})
        line = proc.stdout.readline()
        assert json.loads(line)["source"] == "corridor-3"
    finally:
        proc.kill()
        proc.wait()


def test_db_stats_without_a_database_is_a_clear_error(tmp_path):
    from tests.conftest import base_config, to_toml

    path = tmp_path / "edge.toml"
    path.write_text(to_toml(base_config(tmp_path)))
    out = edge("db", "stats", "--config", str(path))
    assert out.returncode == 1 and "no database here" in out.stderr and "Traceback" not in out.stderr


def test_ctrl_c_while_the_command_modules_load_is_a_quiet_130(monkeypatch):
    import edge.cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(edge.cli, "build_parser", interrupted)
    try:
        status = edge.cli.main(["config", "check"])
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped main(): a traceback for the user")
    assert status == 130


@pytest.mark.parametrize("after_s", [0.05, 0.3, 1.0, 3.0])
def test_ctrl_c_in_a_real_command_exits_130_without_a_traceback(tmp_path, after_s):
    """`edge events tail` follows until interrupted, so Ctrl-C lands in it whenever it comes: in the imports (the
    first ones; a command that ends by itself, as config check once here, could finish first on a quick machine),
    in opening the database or in following (the later ones)."""
    import signal

    from edge.store import EventStore

    config = tmp_path / "edge.toml"
    config.write_text(to_toml(base_config(tmp_path)))
    EventStore.open(tmp_path / "edge.db", device_id="t-gw1", building_id="b01").close()
    proc = subprocess.Popen([sys.executable, "-m", "edge", "events", "tail", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    time.sleep(after_s)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err, err
