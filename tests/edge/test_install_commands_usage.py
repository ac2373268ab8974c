"""edge provision, doctor and update: options missing, clashing or out of range are usage errors (exit 2, as
argparse's own), said on stderr, with nothing changed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from edge.cli import main

VALUES = ["--device-id", "b07-gw1", "--building", "b07", "--server", "https://central.example/api"]


def exit_status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1


@pytest.mark.parametrize(("args", "said"), [
    (VALUES[2:] + ["--token", "-"], "missing --device-id"),
    (["--from-file", "x.toml", "--device-id", "b07-gw1"], "either --from-file or the values, not both"),
    (VALUES, "missing --token (use --token - to read it from standard input)"),  # not a terminal: cannot ask
])
def test_provision_usage_errors_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str], args: list[str], said: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("an-enrolment-token-0123456789\n"))
    config = tmp_path / "edge.toml"
    assert exit_status(["provision", "--config", str(config), *args]) == 2
    assert said in capsys.readouterr().err
    assert not config.exists()


def test_doctor_with_no_such_account_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status(["doctor", "--config", str(tmp_path / "edge.toml"), "--user", "no-such-account-x"]) == 2
    assert "edge doctor: no account named 'no-such-account-x'" in capsys.readouterr().err


@pytest.mark.parametrize("timeout", ["-5", "0", "nan", "inf", "soon"])
def test_update_timeout_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str], timeout: str) -> None:
    wheel = tmp_path / "edge_gateway-9.9.9-py3-none-any.whl"
    wheel.write_bytes(b"")
    assert exit_status(["update", str(wheel), "--root", str(tmp_path / "opt"), "--timeout", timeout]) == 2
    assert f"argument --timeout: '{timeout}' is not a positive number of seconds" in capsys.readouterr().err
    assert not (tmp_path / "opt").exists()  # refused before anything was built
