"""`edge demo`'s options and the configuration it writes under --dir."""

import tomllib

import pytest

from edge.cli import main
from edge.commands.core import write_demo_config
from edge.config import load_config


@pytest.mark.parametrize(("option", "value"), [("--port", "0"), ("--port", "70000"), ("--port", "x"),
                                               ("--speed", "-5"), ("--speed", "0"), ("--speed", "nan"),
                                               ("--speed", "inf"), ("--speed", "1001")])
def test_a_bad_port_or_speed_is_a_usage_error_that_writes_nothing(tmp_path, capsys, option, value):
    with pytest.raises(SystemExit) as e:
        main(["demo", "--dir", str(tmp_path / "demo"), option, value])
    assert e.value.code == 2
    assert f"argument {option}: '{value}' is not a" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


def test_every_run_applies_its_port_and_speed_and_keeps_the_token(tmp_path):
    path = write_demo_config(tmp_path, port=8080, speed=10.0)
    first = load_config(path, {})
    again = load_config(write_demo_config(tmp_path, port=18080, speed=2.5), {})
    assert (again.api.port, again.simulate.speed) == (18080, 2.5)
    assert again.api.token == first.api.token and len(first.api.token) >= 16


def test_a_broken_file_of_an_earlier_run_is_replaced(tmp_path):
    # what `edge demo --port 0` left before its options were checked: a file every later run reused
    (tmp_path / "edge.toml").write_text('[api]\nport = 0\ntoken = "kept-token-0123456789"\n')
    config = load_config(write_demo_config(tmp_path, port=8080, speed=10.0), {})
    assert config.api.port == 8080 and config.api.token == "kept-token-0123456789"
    (tmp_path / "edge.toml").write_text("not toml [")
    doc = tomllib.loads(write_demo_config(tmp_path, port=8081, speed=1.0).read_text())
    assert doc["api"]["port"] == 8081 and len(doc["api"]["token"]) >= 16
