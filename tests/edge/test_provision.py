"""Provisioning: the boot-partition file (a temporary folder stands in for /boot/firmware) and `edge provision`."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import load_config
from edge.errors import ProvisionError
from edge.provision import (
    BOOT_FILE,
    DONE_FILE,
    ERROR_FILE,
    LAST_ERROR,
    Provisioning,
    parse_request,
    provision,
    provision_from_file,
)
from tests.conftest import REPO

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
TOKEN = "enrol-7f3a9c2e4b8d1f60"
GOOD = f"""device_id = "b07-gw1"
building_id = "b07"
server = "https://central.example/api"
token = "{TOKEN}"
"""


@pytest.fixture
def boot(tmp_path: Path) -> Path:
    folder = tmp_path / "boot-firmware"
    folder.mkdir()
    return folder


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    return tmp_path / "etc-edge-gateway" / "edge.toml"


def test_boot_file_taken_in_and_token_removed_from_the_card(boot: Path, etc: Path) -> None:
    (boot / BOOT_FILE).write_text(GOOD)
    outcome = provision_from_file(boot / BOOT_FILE, etc, now=NOW, environ={})
    assert (outcome.device_id, outcome.building_id, outcome.replaced) == ("b07-gw1", "b07", False)
    config = load_config(etc, environ={})
    assert (config.device_id, config.building_id) == ("b07-gw1", "b07")
    assert config.upstream is not None
    assert (config.upstream.url, config.upstream.token) == ("https://central.example/api", TOKEN)
    assert len(config.api.token) >= 16  # a fresh API token
    assert stat.S_IMODE(etc.stat().st_mode) == 0o640
    assert not (boot / BOOT_FILE).exists()
    on_card = "".join(p.read_text() for p in boot.iterdir())
    assert TOKEN not in on_card and "b07-gw1" in (boot / DONE_FILE).read_text()


def test_bad_boot_file_refused_clearly_and_old_config_kept(boot: Path, etc: Path) -> None:
    (boot / BOOT_FILE).write_text(GOOD)
    provision_from_file(boot / BOOT_FILE, etc, now=NOW, environ={})
    kept = etc.read_bytes()
    bad = GOOD.replace('"b07-gw1"', '"B07 GW1"').replace("https://central.example/api", "central.example")
    (boot / BOOT_FILE).write_text(bad + 'wifi = "x"\n')
    with pytest.raises(ProvisionError) as e:
        provision_from_file(boot / BOOT_FILE, etc, now=NOW, environ={})
    problems = "\n".join(e.value.problems)
    assert "key device_id: found \"B07 GW1\"; allowed: 3 to 40 lower-case letters" in problems
    assert "key server: found \"central.example\"" in problems
    assert "key wifi: unknown key; allowed: device_id, building_id, server, token" in problems
    assert etc.read_bytes() == kept
    assert (boot / BOOT_FILE).read_text().startswith(bad)  # left for the installer to fix
    beside = (boot / ERROR_FILE).read_text()
    assert "key device_id" in beside and TOKEN not in beside
    assert "key server" in (etc.parent / LAST_ERROR).read_text()  # for the "not provisioned" screen


def test_boot_file_that_is_not_toml_is_refused(boot: Path, etc: Path) -> None:
    (boot / BOOT_FILE).write_text('device_id = "b07-gw1\n')
    with pytest.raises(ProvisionError, match="not valid TOML"):
        provision_from_file(boot / BOOT_FILE, etc, now=NOW, environ={})
    assert not etc.exists()


def test_sample_file_refused_until_the_token_is_filled_in(boot: Path, etc: Path) -> None:
    sample = (REPO / "systemd/edge-gateway.toml.sample").read_text()
    (boot / BOOT_FILE).write_text(sample)
    with pytest.raises(ProvisionError, match="key token: found <the token>; allowed: .*not the sample's placeholder"):
        provision_from_file(boot / BOOT_FILE, etc, now=NOW, environ={})
    (boot / BOOT_FILE).write_text(sample.replace("REPLACE-WITH-THE-ENROLMENT-TOKEN", TOKEN))
    assert provision_from_file(boot / BOOT_FILE, etc, now=NOW, environ={}).device_id == "b07-gw1"


def test_provisioning_again_keeps_the_rest_of_the_config(etc: Path) -> None:
    etc.parent.mkdir(parents=True)
    etc.write_text('# the installer\'s notes\ndevice_id = "old-gw"\nbuilding_id = "b01"\n\n[api]\n'
                   'token = "kept-api-token-0123456789"\nport = 8181\n\n[simulate]\nenabled = true\n')
    req = parse_request({"device_id": "b07-gw1", "building_id": "b07", "server": "https://c.example/api/",
                         "token": TOKEN}, "test")
    assert provision(req, etc, now=NOW, environ={}).replaced
    text = etc.read_text()
    assert "# the installer's notes" in text
    config = load_config(etc, environ={})
    assert (config.device_id, config.api.token, config.api.port) == ("b07-gw1", "kept-api-token-0123456789", 8181)
    assert config.simulate.enabled and config.upstream and config.upstream.url == "https://c.example/api"
    assert 'device_id = "old-gw"' in etc.with_name("edge.toml.previous").read_text()


def test_a_result_that_would_not_be_a_valid_config_is_refused(etc: Path) -> None:
    etc.parent.mkdir(parents=True)
    etc.write_text('device_id = "old-gw"\nbuilding_id = "b01"\n[api]\ntoken = "kept-api-token-0123456789"\n'
                   "[storage]\nmax_mbb = 3\n")
    before = etc.read_bytes()
    req = Provisioning(device_id="b07-gw1", building_id="b07", server="https://c.example", token=TOKEN)
    with pytest.raises(ProvisionError) as e:
        provision(req, etc, now=NOW, environ={})
    assert any("storage.max_mbb: unknown key" in p for p in e.value.problems)
    assert etc.read_bytes() == before


def test_cli_provision_with_flags_and_token_from_stdin(etc: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(TOKEN + "\n"))
    status = main(["provision", "--config", str(etc), "--device-id", "b07-gw1", "--building", "b07",
                   "--server", "https://central.example/api", "--token", "-"])
    assert status == 0
    assert "provisioned b07-gw1 in building b07" in capsys.readouterr().out
    assert load_config(etc).upstream.token == TOKEN  # type: ignore[union-attr]


def test_cli_refuses_bad_values_naming_the_flags(etc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["provision", "--config", str(etc), "--device-id", "GW", "--building", "b07",
                   "--server", "https://central.example/api", "--token", "short"])
    assert status == 2
    err = capsys.readouterr().err
    assert "refused; nothing was changed" in err
    assert "--device-id: found \"GW\"" in err and "--token: found <the token>" in err and "short" not in err
    assert not etc.exists()


def test_cli_from_file_refusal_exits_2(boot: Path, etc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (boot / BOOT_FILE).write_text(GOOD.replace("b07-gw1", "x"))
    assert main(["provision", "--config", str(etc), "--from-file", str(boot / BOOT_FILE)]) == 2
    assert "key device_id: found \"x\"" in capsys.readouterr().err


def test_a_plain_http_server_elsewhere_is_refused_before_anything_changes(etc: Path) -> None:
    with pytest.raises(ProvisionError) as e:
        parse_request({"device_id": "b07-gw1", "building_id": "b07", "server": "http://c.example/api",
                       "token": TOKEN}, "test")
    assert any("key server" in line and "https://" in line for line in e.value.problems)
    assert not etc.exists()


@pytest.fixture
def service_group(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Runs as root with a group standing in for `edge` (the test machine has no such account)."""
    import grp

    if os.geteuid() != 0:
        pytest.skip("giving a file to the service's group needs root")
    group = next(g for g in grp.getgrall() if g.gr_gid not in (0, os.getegid()))
    monkeypatch.setattr("edge.provision.SERVICE_GROUP", group.gr_name)
    old_umask = os.umask(0o027)  # as the units run it (UMask=0027)
    yield group.gr_gid
    os.umask(old_umask)


def test_the_refusal_note_is_readable_by_the_gateway(boot: Path, etc: Path, service_group: int) -> None:
    """provision-error.txt is for the unprovisioned screen, drawn by the gateway running as `edge`."""
    (boot / BOOT_FILE).write_text(GOOD.replace('device_id = "b07-gw1"', 'device_id = "B07"'))
    with pytest.raises(ProvisionError):
        provision_from_file(boot / BOOT_FILE, etc, now=NOW, environ={})
    note = etc.parent / LAST_ERROR
    assert "B07" in note.read_text()
    st = note.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, service_group, 0o640)


def test_the_previous_config_is_no_more_readable_than_the_config(etc: Path, service_group: int) -> None:
    """A hand-made edge.toml may be 0644; its API token is still the live one after provisioning."""
    etc.parent.mkdir(parents=True)
    etc.write_text('device_id = "old-gw"\nbuilding_id = "b01"\n\n[api]\ntoken = "kept-api-token-0123456789"\n')
    etc.chmod(0o644)
    req = parse_request({"device_id": "b07-gw1", "building_id": "b07", "server": "https://c.example/api",
                         "token": TOKEN}, "test")
    provision(req, etc, now=NOW, environ={})
    previous = etc.with_name("edge.toml.previous")
    assert "kept-api-token-0123456789" in previous.read_text()
    for path in (etc, previous):
        st = path.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, service_group, 0o640), path


def test_an_unreadable_config_asks_for_sudo(etc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """edge.toml is 0640 root:edge: without root (root always reads, so the refusal is made here) say how."""
    etc.parent.mkdir(parents=True)
    etc.write_text('device_id = "old-gw"\n')
    real_open = Path.open

    def refusing_open(self: Path, *args, **kw):  # noqa: ANN002, ANN003, ANN202
        if self == etc:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kw)

    monkeypatch.setattr(Path, "open", refusing_open)
    req = parse_request({"device_id": "b07-gw1", "building_id": "b07", "server": "https://c.example/api",
                         "token": TOKEN}, "test")
    with pytest.raises(ProvisionError) as refused:
        provision(req, etc, now=NOW, environ={})
    assert "permission denied (run it as root: sudo edge provision ...)" in refused.value.problems[0]


def test_a_card_file_that_cannot_be_removed_is_not_applied(small_disk: Path, etc: Path) -> None:
    """A boot partition remounted read-only (vfat's errors=remount-ro): the file and its token would stay on the
    card and be applied again at every boot, so it is not applied at all: the old configuration stays."""
    import subprocess

    etc.parent.mkdir(parents=True)
    etc.write_text('device_id = "old-gw"\nbuilding_id = "b01"\n\n[api]\ntoken = "kept-api-token-0123456789"\n')
    before = etc.read_bytes()
    (small_disk / BOOT_FILE).write_text(GOOD)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(ProvisionError) as refused:
        provision_from_file(small_disk / BOOT_FILE, etc, now=NOW, environ={})
    assert "cannot take it off the card (Read-only file system), so it was not applied" in refused.value.problems[0]
    assert etc.read_bytes() == before
    assert "Read-only file system" in (etc.parent / LAST_ERROR).read_text()  # for the "not provisioned" screen
    etc.unlink()  # and with no configuration before, none after
    with pytest.raises(ProvisionError):
        provision_from_file(small_disk / BOOT_FILE, etc, now=NOW, environ={})
    assert not etc.exists()


@pytest.mark.parametrize(("content", "says"), [
    (GOOD.encode("utf-16"), "not UTF-8 text (byte 0xff at position 0); save it as UTF-8"),  # Notepad's "Unicode"
    (GOOD.encode() + b"#" * (1 << 20), "larger than 64 KB: not a provisioning file"),
])
def test_a_card_file_that_is_not_a_provisioning_file_says_why(boot: Path, etc: Path, content: bytes,
                                                              says: str) -> None:
    (boot / BOOT_FILE).write_bytes(content)
    with pytest.raises(ProvisionError) as refused:
        provision_from_file(boot / BOOT_FILE, etc, now=NOW, environ={})
    (problem,) = refused.value.problems
    assert problem.startswith(f"{boot / BOOT_FILE}: {says}"), problem
    assert not etc.exists() and (boot / BOOT_FILE).exists()
