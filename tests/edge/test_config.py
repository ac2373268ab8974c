import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import load_config, parse_config, runtime_env, toml_value
from edge.errors import ConfigError
from tests.conftest import REPO, TOKEN, base_config, run_as_another_account, to_toml


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "edge.toml"
    p.write_text(text)
    return p


def problems(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text), environ or {})
    return e.value.problems


def test_contract_example_loads(tmp_path):
    cfg = load_config(write(tmp_path, to_toml(base_config(tmp_path, upstream={
        "url": "https://central.example/api", "token": "up-secret-123"}, simulate={"enabled": True}))), {})
    assert cfg.device_id == "t-gw1"
    assert cfg.storage.max_mb == 64 and cfg.storage.retention_days == 7
    assert cfg.upstream is not None and cfg.upstream.url == "https://central.example/api"
    assert cfg.simulate.enabled is True


def test_unknown_key_names_file_key_and_allowed_keys(tmp_path):
    doc = base_config(tmp_path, storage={"max_mbb": 3})
    [line] = problems(tmp_path, to_toml(doc))
    assert line.startswith(str(tmp_path / "edge.toml") + ": key storage.max_mbb: unknown key")
    assert "max_mb" in line and "path" in line and "retention_days" in line


def test_every_problem_gets_its_own_line(tmp_path):
    doc = base_config(tmp_path, api={"port": 70000})
    doc["device_id"] = "Bad ID!"
    del doc["building_id"]
    lines = problems(tmp_path, to_toml(doc))
    assert len(lines) == 3
    assert any('key device_id: found "Bad ID!"' in x for x in lines)
    assert any("key api.port: found 70000; allowed: Input should be less than or equal to 65535" in x for x in lines)
    assert any("key building_id: missing" in x for x in lines)


def test_wrong_type_says_what_was_found(tmp_path):
    doc = base_config(tmp_path, storage={"max_mb": "lots"})
    [line] = problems(tmp_path, to_toml(doc))
    assert 'key storage.max_mb: found "lots"' in line and "number" in line


def test_placeholder_token_is_refused_without_echoing_it(tmp_path):
    doc = base_config(tmp_path, api={"token": "..."})
    [line] = problems(tmp_path, to_toml(doc))
    assert "key api.token" in line and "at least 16 characters" in line


def test_a_missing_token_is_refused_not_taken_as_empty(tmp_path):
    doc = base_config(tmp_path, upstream={"url": "https://c.example/api"})
    del doc["api"]["token"]
    lines = problems(tmp_path, to_toml(doc))
    assert any('key api.token: found ""' in x and "EDGE_API_TOKEN" in x for x in lines)
    assert any('key upstream.token: found ""' in x and "EDGE_UPSTREAM_TOKEN" in x for x in lines)
    env = {"EDGE_API_TOKEN": "from-env-0123456789", "EDGE_UPSTREAM_TOKEN": "up-from-env"}
    assert load_config(write(tmp_path, to_toml(doc)), env).api.token == "from-env-0123456789"


def test_an_empty_expected_token_matches_nothing():
    from edge.api.deps import token_matches

    assert not token_matches("", "") and not token_matches(None, "")
    assert token_matches("x" * 16, "x" * 16) and not token_matches("y" * 16, "x" * 16)


def test_token_from_environment_overrides_file(tmp_path):
    doc = base_config(tmp_path, api={"token": "..."})
    cfg = load_config(write(tmp_path, to_toml(doc)), {"EDGE_API_TOKEN": "from-env-0123456789"})
    assert cfg.api.token == "from-env-0123456789"


def test_upstream_token_from_environment(tmp_path):
    doc = base_config(tmp_path, upstream={"url": "https://c.example/api"})
    cfg = load_config(write(tmp_path, to_toml(doc)), {"EDGE_UPSTREAM_TOKEN": "up-from-env"})
    assert cfg.upstream is not None and cfg.upstream.token == "up-from-env"


def test_bad_toml_and_missing_file(tmp_path):
    [line] = problems(tmp_path, 'device_id = "x\n')
    assert "not valid TOML" in line and "line 1" in line
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "nope.toml", {})
    assert "file not found" in e.value.problems[0]


def test_config_path_precedence():
    assert str(runtime_env("/a.toml", {"EDGE_CONFIG": "/b.toml"}).config_path) == "/a.toml"
    assert str(runtime_env(None, {"EDGE_CONFIG": "/b.toml"}).config_path) == "/b.toml"
    assert str(runtime_env(None, {}).config_path) == "/etc/edge-gateway/edge.toml"


def test_parse_from_dict_for_tests(tmp_path):
    cfg = parse_config(base_config(tmp_path), "dict", {})
    assert cfg.api.token == TOKEN


@pytest.mark.parametrize("command", [["run"], ["config", "check"], ["db", "stats"]])
def test_cli_wrong_config_exits_2_without_traceback(tmp_path, command):
    doc = base_config(tmp_path, storage={"max_mbb": 3})
    path = write(tmp_path, to_toml(doc))
    out = subprocess.run([sys.executable, "-m", "edge", *command, "--config", str(path)],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip() == f"{path}: key storage.max_mbb: unknown key; allowed here: max_mb, path, retention_days"


def test_config_check_reads_the_parking_space_maps(tmp_path):
    spaces = tmp_path / "SPACES.json"
    doc = base_config(tmp_path, parking={"cameras": [{"source": "0", "spaces": str(spaces)}]})
    path = write(tmp_path, to_toml(doc))

    def check() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "edge", "config", "check", "--config", str(path)],
                              capture_output=True, text=True, cwd=REPO, timeout=60)

    assert check().returncode == 0  # not drawn yet: the calibration page makes it
    spaces.write_text('{"spaces": [{"id": "A-01", "zone": "A", "polygon": [[0, 0], [50, 50], [50, 0], [0, 50]]}]}')
    out = check()
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (f"{path}: key parking.cameras.0.spaces: {spaces}: spaces[0] (id 'A-01'): polygon "
                                  "crosses itself (give its points in order around the space)")


def test_site_time_zone_must_be_known(tmp_path):
    [line] = problems(tmp_path, to_toml(base_config(tmp_path, site={"timezone": "Mars/Olympus"})))
    assert 'key site.timezone: found "Mars/Olympus"; allowed: an IANA time zone' in line
    cfg = load_config(write(tmp_path, to_toml(base_config(tmp_path, site={"latitude": 28.2, "longitude": 112.9}))), {})
    assert cfg.site.timezone == "Asia/Shanghai" and cfg.site.latitude == 28.2


def test_upstream_must_be_https_unless_on_this_machine(tmp_path):
    doc = base_config(tmp_path, upstream={"url": "http://central.example/api", "token": "up-secret-123"})
    [line] = problems(tmp_path, to_toml(doc))
    assert "key upstream.url" in line and "https://" in line
    doc["upstream"]["url"] = "http://127.0.0.1:9000/api"  # a receiver on the gateway itself (tests, a local relay)
    assert load_config(write(tmp_path, to_toml(doc)), {}).upstream is not None


def test_a_value_of_the_wrong_toml_type_is_named_not_guessed_at(tmp_path):
    doc = base_config(tmp_path, api={"port": "8080"}, simulate={"enabled": "yes"})
    lines = problems(tmp_path, to_toml(doc))
    assert any('key api.port: found "8080"' in x and "integer" in x for x in lines)
    assert any('key simulate.enabled: found "yes"' in x and "boolean" in x for x in lines)
    assert len(lines) == 2


def test_what_was_found_is_written_as_in_the_toml_file(tmp_path):
    # An installer reads the value back as the file spells it (true, not Python's True; "text" in double quotes).
    doc = base_config(tmp_path, api={"port": True}, storage={"max_mb": [1, "two"]})
    lines = problems(tmp_path, to_toml(doc))
    assert any("key api.port: found true;" in x for x in lines)
    assert any('key storage.max_mb: found [1, "two"];' in x for x in lines)


def test_a_wrong_token_is_not_echoed(tmp_path):
    doc = base_config(tmp_path, api={"token": 12345678})
    lines = problems(tmp_path, to_toml(doc))
    assert any("key api.token: found 12345678" in x for x in lines)  # not a string: a type error, shown
    doc = base_config(tmp_path, api={"token": "s3cret-short"})  # too short: refused, and not printed
    lines = problems(tmp_path, to_toml(doc))
    assert any("key api.token: found <the token>;" in x for x in lines)
    assert not any("s3cret" in x for x in lines)


@pytest.mark.parametrize("token", [" " * 15 + "x", " padded-0123456789abcdef ", "tokén-0123456789abcdef",
                                   "tab\t0123456789abcdef"])
def test_a_token_that_could_never_match_a_bearer_header_is_refused(tmp_path, token):
    # The API strips the spaces of a client's token, and a header carries ASCII only: these could never match
    doc = base_config(tmp_path, api={"token": token}, upstream={"url": "https://c.example/api", "token": token})
    lines = problems(tmp_path, to_toml(doc))
    assert len(lines) == 2 and all("found <the token>;" in x and "printable ASCII without spaces" in x for x in lines)
    assert "key api.token" in lines[0] and "key upstream.token" in lines[1]


def test_a_bad_token_from_the_environment_names_the_variable_not_the_file(tmp_path):
    doc = base_config(tmp_path, upstream={"url": "https://c.example/api", "token": "up-secret-123"})
    path = write(tmp_path, to_toml(doc))
    env = {"EDGE_API_TOKEN": "short", "EDGE_UPSTREAM_TOKEN": "up token"}
    lines = problems(tmp_path, to_toml(doc), env)
    assert lines == [
        f"environment variable EDGE_API_TOKEN (it overrides {path}: key api.token): found <the token>; allowed: a "
        "real secret: at least 16 characters, printable ASCII without spaces",
        f"environment variable EDGE_UPSTREAM_TOKEN (it overrides {path}: key upstream.token): found <the token>; "
        "allowed: a real secret: printable ASCII without spaces"]
    # the same values in the file are the file's
    doc["api"]["token"], doc["upstream"]["token"] = "short", "up token"
    assert all(x.startswith(f"{path}: key ") for x in problems(tmp_path, to_toml(doc)))


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://admin:s3cretpw@central.example/api", "no user:password in the URL; use upstream.token"),
    ("http://admin@127.0.0.1:9000/api", "no user:password in the URL; use upstream.token"),
    ("https://127.0.0.1:99999/api", "a port of 1-65535 after the host"),
    ("https://:0/x", "a port of 1-65535 after the host"),
    ("https://central.example:http/api", "a port of 1-65535 after the host"),
    ("https://:443/api", "a host after the scheme"),
])
def test_an_upstream_url_requests_would_misuse_or_fail_on_is_refused(tmp_path, url, allowed):
    doc = base_config(tmp_path, upstream={"url": url, "token": "up-secret-123"})
    [line] = problems(tmp_path, to_toml(doc))
    assert "key upstream.url: found " in line and f"allowed: {allowed}" in line
    assert "s3cretpw" not in line  # the password is not printed either


def test_the_ca_bundle_must_be_a_readable_pem_file(tmp_path):
    doc = base_config(tmp_path, upstream={"url": "https://c.example/api", "token": "up-secret-123",
                                          "ca_bundle": str(tmp_path / "missing.pem")})
    path = write(tmp_path, to_toml(doc))
    assert problems(tmp_path, to_toml(doc)) == [
        f'{path}: key upstream.ca_bundle: found "{tmp_path / "missing.pem"}" (No such file or directory); allowed: '
        "a readable file of CA certificates (PEM)"]
    (tmp_path / "bad.pem").write_text("not a certificate\n")
    for ca, why in ((tmp_path, "Is a directory"), (tmp_path / "bad.pem", "no PEM certificate in it"), ("", "empty")):
        doc["upstream"]["ca_bundle"] = str(ca)
        [line] = problems(tmp_path, to_toml(doc))
        assert f"key upstream.ca_bundle: found {toml_value(str(ca))} ({why})" in line
    import certifi

    doc["upstream"]["ca_bundle"] = certifi.where()
    assert load_config(write(tmp_path, to_toml(doc)), {}).upstream.ca_bundle == Path(certifi.where())


def test_file_problems_are_listed_with_the_others(tmp_path):
    doc = base_config(tmp_path, storage={"path": str(tmp_path)}, api={"port": 0},
                      upstream={"url": "https://c.example/api", "token": "up-secret-123", "ca_bundle": "/nope.pem"})
    lines = problems(tmp_path, to_toml(doc))
    assert [x.split(": ")[1] for x in lines] == ["key api.port", "key storage.path", "key upstream.ca_bundle"]
    assert f'found "{tmp_path}", a folder; allowed: the database file\'s path, e.g. {tmp_path}/edge.db' in lines[1]


@pytest.mark.parametrize("path", ["", ".", "/", "db/.."])
def test_a_storage_path_that_names_no_file_is_refused(tmp_path, path):
    [line] = problems(tmp_path, to_toml(base_config(tmp_path, storage={"path": path})))
    assert f"key storage.path: found {toml_value(path)}; allowed: the database file's path" in line


@pytest.mark.parametrize("host", ["", " ", "127.0.0.1 "])
def test_an_empty_api_host_is_refused_not_every_interface(tmp_path, host):
    [line] = problems(tmp_path, to_toml(base_config(tmp_path, api={"host": host})))
    assert f"key api.host: found {toml_value(host)}; allowed: an address to listen on" in line and "0.0.0.0" in line
    assert load_config(write(tmp_path, to_toml(base_config(tmp_path, api={"host": "0.0.0.0"}))), {}).api.host == \
        "0.0.0.0"


def test_a_wristbands_heart_rate_range_must_not_be_empty(tmp_path):
    band = {"band": "0a1b2c3d", "flat": "3-201", "hr_min": 100, "hr_max": 100}
    [line] = problems(tmp_path, to_toml(base_config(tmp_path)) + "\n[[ble.wristbands]]\n" + to_toml(band))
    assert "key ble.wristbands.0.hr_min: found 100; allowed: less than hr_max (100)" in line
    band["hr_min"] = 60
    cfg = load_config(write(tmp_path, to_toml(base_config(tmp_path)) + "\n[[ble.wristbands]]\n" + to_toml(band)), {})
    assert (cfg.ble.wristbands[0].hr_min, cfg.ble.wristbands[0].hr_max) == (60, 100)


def test_an_unknown_key_in_a_table_of_tables_lists_the_allowed_keys(tmp_path):
    text = to_toml(base_config(tmp_path)) + '\n[kiosk.places]\nA = {zh = "x", foo = 1}\n'
    [line] = problems(tmp_path, text)
    assert line.endswith("key kiosk.places.A.foo: unknown key; allowed here: arrow, en, zh")


def test_every_cross_field_problem_gets_its_own_line(tmp_path):
    gpio = ('\n[[gpio.bins]]\nname = "bin-1"\ntrigger_pin = 5\necho_pin = 6\nempty_depth_m = 1.0\n'
            'full_distance_m = 2.0\nemptied_pct = 90\n'
            '[[gpio.buttons]]\nname = "bin-1"\npin = 5\n'
            '[[gpio.outputs]]\nname = "lamp"\npin = 6\nrole = "alert"\n')
    lines = problems(tmp_path, to_toml(base_config(tmp_path)) + gpio)
    assert [x.split(": ")[1] for x in lines] == ["key gpio.bins.0.full_distance_m", "key gpio.bins.0.emptied_pct"]
    gpio = gpio.replace("full_distance_m = 2.0\nemptied_pct = 90\n", "")
    lines = problems(tmp_path, to_toml(base_config(tmp_path)) + gpio)
    assert [x.split(": ")[1] for x in lines] == ["key gpio.buttons.0.pin", "key gpio.buttons.0.name",
                                                 "key gpio.outputs.0.pin"]
    assert "GPIO6 is already gpio.bins.0.echo_pin" in lines[2] and "gpio.bins.0 is 'bin-1'" in lines[1]


def test_each_light_that_needs_the_sun_is_named(tmp_path):
    lights = ('\n[[gpio.lights]]\nname = "hall"\npin = 5\n'
              '[[gpio.lights]]\nname = "stairs"\npin = 6\nlit_from = "18:00"\n')
    lines = problems(tmp_path, to_toml(base_config(tmp_path)) + lights)
    assert [x.split(": ")[1] for x in lines] == ["key gpio.lights.0.lit_from", "key gpio.lights.1.lit_until"]


def test_config_check_without_sudo_on_a_closed_data_folder_is_no_traceback() -> None:
    """edge.toml readable, its storage folder 0700 for the gateway's account: `edge config check` run by another
    account checks the file (Path.is_dir raised PermissionError out of the storage.path check)."""
    proc = run_as_another_account("config", "check")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
