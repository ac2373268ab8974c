"""Wrong options are usage errors: exit 2 and a line saying what is wrong, before anything is read."""

import pytest

from edge.cli import main


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    assert e.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("option", ["--after", "-n"])
def test_a_seq_sqlite_cannot_hold_is_a_usage_error_not_an_overflow(tmp_path, capsys, option):
    err = usage_error(capsys, "events", "tail", "--config", str(tmp_path / "x.toml"), "--no-follow", option,
                      "99999999999999999999999")
    assert "'99999999999999999999999' is not a whole number in 0..9223372036854775807" in err
    err = usage_error(capsys, "sync", "pull", "--from", "http://127.0.0.1:9", "--token", "t", "--after", "-1")
    assert "argument --after: '-1' is not a whole number" in err


def test_a_bad_kind_is_a_usage_error(tmp_path, capsys):
    err = usage_error(capsys, "events", "tail", "--config", str(tmp_path / "x.toml"), "--kind", "BAD KIND")
    assert "argument --kind: 'BAD KIND' is not an event kind like 'bin.level'" in err


@pytest.mark.parametrize("limit", ["0", "10001"])
def test_a_pull_limit_out_of_range_is_a_usage_error(capsys, limit):
    assert main(["sync", "pull", "--from", "http://127.0.0.1:9", "--token", "t", "--limit", limit]) == 2
    assert f"edge sync pull: error: argument --limit: {limit} is not in 1..10000" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "text"), [
    (["config", "check"], "Validate the configuration file as `edge run` will load it"),
    (["demo"], "the kiosk's and the API's port"),
    (["db", "stats"], "one JSON object (sizes in bytes)"),
    (["sync", "status"], "one JSON object instead of the lines"),
])
def test_the_help_explains_the_command_and_its_options(capsys, argv, text):
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    assert text in " ".join(capsys.readouterr().out.split())
