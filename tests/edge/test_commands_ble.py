from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from tests.conftest import REPO
from tests.sensors.bluez_mock import BluezControl
from tests.sensors.conftest import bluez, load_hex, private_bus  # noqa: F401  (fixtures)


def edge(*args: str, stdin: str = "", env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], input=stdin, capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=timeout, check=False)


def test_decode_lines():
    lines = [
        {"address": "C0:FF:EE:00:00:01", "rssi": -60,
         "manufacturer_data": {"65535": load_hex("wristband_v1_sos").hex()}},
        {"address": "C0:FF:EE:00:00:02", "characteristic": "00002a37-0000-1000-8000-00805f9b34fb",
         "value": load_hex("hr_polar_h7_rr").hex()},
        {"address": "AA:BB:CC:DD:EE:FF", "rssi": -70, "service_data": {"fcd2": load_hex("bthome_pressure").hex()},
         "manufacturer_data": {"76": load_hex("ibeacon_estimote").hex()}},
        {"address": "AA:BB:CC:DD:EE:FF", "rssi": -70, "manufacturer_data": {"65535": "eb01"}},
        {"address": "AA:BB:CC:DD:EE:FF", "rssi": -70, "manufacturer_data": {"6": "0109"}},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\nnot json\n"
    done = edge("ble", "decode", stdin=text)
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == 6 and done.returncode == 1
    assert out[0]["readings"][0]["data"]["sos"] is True
    assert out[1]["readings"][0] == {"kind": "heart_rate",
                                     "data": {"bpm": 60, "sensor_contact": True, "rr_intervals_ms": [1016.6]}}
    assert [r["kind"] for r in out[2]["readings"]] == ["ibeacon", "bthome"]
    assert "need 11 bytes" in out[3]["error"]
    assert out[4] == {"readings": []}
    assert "not JSON" in out[5]["error"]


def test_decode_with_bind_keys_from_config(tmp_path):
    cfg = tmp_path / "edge.toml"
    cfg.write_text('device_id = "t-gw1"\nbuilding_id = "b01"\n[api]\ntoken = "test-token-0123456789abcdef"\n'
                   '[ble.bthome_keys]\n"54:48:E6:8F:80:A5" = "231d39c1d7cc1ab1aee224cd096db932"\n')
    line = {"address": "54:48:E6:8F:80:A5", "rssi": -60,
            "service_data": {"fcd2": load_hex("bthome_encrypted_shelly_sbht003c").hex()}}
    done = edge("ble", "decode", "--config", str(cfg), stdin=json.dumps(line))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["readings"][0]["data"]["temperature_c"] == 25.06


def test_scan_prints_decoded_wristbands(bluez):  # noqa: F811
    async def scenario() -> subprocess.CompletedProcess:
        control = await BluezControl.connect()
        await control.add_adapter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edge", "ble", "scan", "--seconds", "4", cwd=REPO,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        await asyncio.sleep(2.0)  # the scanner is up
        path = await control.add_device("C0:FF:EE:00:00:07", "EB-0007")
        await control.advertise(path, {0xFFFF: load_hex("wristband_v1_sos")})
        stdout, stderr = await proc.communicate()
        control.disconnect()
        return subprocess.CompletedProcess([], proc.returncode, stdout.decode(), stderr.decode())

    done = asyncio.run(scenario())
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert any(x["address"] == "C0:FF:EE:00:00:07" and x["readings"][0]["data"]["band_id"] == "0a1b2c3d"
               for x in lines)


def test_scan_without_dbus_says_why(tmp_path):
    import os

    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/none"}
    done = edge("ble", "scan", "--seconds", "5", env=env)
    assert done.returncode == 1 and "no D-Bus system bus" in done.stderr


WRISTBAND = {"address": "C0:FF:EE:00:00:01", "rssi": -60, "manufacturer_data": {"65535": "eb013d2c1b0a0755480411"}}


def test_fields_of_the_wrong_type_are_errors_and_decoding_goes_on():
    from edge.commands.ble import decode_lines
    from sensors.decode import BleDecoder

    bad = [{"manufacturer_data": ["x"]}, {"manufacturer_data": "eb01"}, {"manufacturer_data": 5},
           {"manufacturer_data": True}, {"service_data": ["x"]}, {"service_data": "fcd2"}, {"service_uuids": 5},
           {"service_uuids": [1]}, {"rssi": True}, {"name": {"a": 1}}]
    lines = [json.dumps({**WRISTBAND, **b}) for b in bad for _ in (0, 1)]
    lines[1::2] = [json.dumps(WRISTBAND)] * len(bad)  # a good line after each bad one
    out = list(decode_lines(BleDecoder(), lines))
    assert len(out) == len(lines)
    for b, error, good in zip(bad, out[0::2], out[1::2], strict=True):
        assert set(error) == {"error"} and next(iter(b)) in error["error"], (b, error)
        assert good["readings"][0]["data"]["band_id"] == "0a1b2c3d"
    assert out[0] == {"error": "manufacturer_data must be an object, got list"}
    assert out[12] == {"error": "service_uuids must be a list of strings, got int"}


def test_json_that_python_cannot_load_is_an_error_line():
    from edge.commands.ble import decode_lines
    from sensors.decode import BleDecoder

    lines = ['{"address": "x", "rssi": ' + "1" * 5000 + "}", "[" * 30_000 + "]" * 30_000, json.dumps(WRISTBAND)]
    out = list(decode_lines(BleDecoder(), lines))
    assert out[0]["error"].startswith("not JSON: ") and "digits" in out[0]["error"]
    assert out[1] == {"error": "not JSON: nested too deeply"}
    assert out[2]["readings"][0]["data"]["sos"] is True


def test_a_decoder_bug_costs_one_line_not_the_rest(capsys):
    from edge.commands.ble import decode_lines
    from sensors.decode import BleDecoder

    class Buggy(BleDecoder):
        def gatt(self, characteristic, value):
            raise ZeroDivisionError("oops")

    gatt = json.dumps({"address": "x", "characteristic": "2a37", "value": "0048"})
    out = list(decode_lines(Buggy(), [gatt, json.dumps(WRISTBAND)]))
    assert out[0] == {"error": "internal error: ZeroDivisionError: oops"}
    assert out[1]["readings"][0]["kind"] == "wristband"
    assert "ZeroDivisionError" in capsys.readouterr().err  # the traceback, for the bug report


def test_lone_surrogates_and_bytes_that_are_not_utf8_give_error_lines_in_valid_utf8():
    import os

    lines = [b'{"address": "\\ud800", "rssi": -60, "service_data": {"fcd2": "41000000000000000000000000"}}',
             b'{"address": "x", "characteristic": "\\udcff", "value": "00"}',
             b'{"address": "\xff"}',
             b'{"address": "x", "characteristic": "2a19", "value": "64"}']
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}  # what a UTF-8 locale on Raspberry Pi OS gives
    done = subprocess.run([sys.executable, "-m", "edge", "ble", "decode"], input=b"\n".join(lines) + b"\n",
                          capture_output=True, cwd=REPO, env=env, timeout=60, check=False)
    assert done.returncode == 1, done.stderr.decode(errors="replace")
    out = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]  # strict: valid UTF-8
    assert "\ud800 sends encrypted data" in out[0]["error"]
    assert out[1]["error"].startswith("characteristic \udcff:")
    assert out[2] == {"error": "not UTF-8: byte 0xff at 13"}
    assert out[3] == {"readings": [{"kind": "battery", "data": {"percent": 100}}]}


def test_a_blank_line_gets_its_own_error_line():
    from edge.commands.ble import decode_lines
    from sensors.decode import BleDecoder

    out = list(decode_lines(BleDecoder(), [b"\n", json.dumps(WRISTBAND).encode() + b"\n", b"  \r\n"]))
    assert out[0] == out[2] == {"error": "empty line"}
    assert out[1]["readings"][0]["kind"] == "wristband"


def test_a_line_over_the_bound_is_an_error_and_the_next_line_is_read():
    import io

    from edge.commands.ble import MAX_LINE_BYTES, decode_lines, read_lines
    from sensors.decode import BleDecoder

    huge = json.dumps({"address": "x", "rssi": -1, "service_data": {"fcd2": "40" + "0164" * 40_000}}).encode()
    fits = json.dumps({**WRISTBAND, "name": "n" * (MAX_LINE_BYTES - len(json.dumps(WRISTBAND)) - 12)}).encode()
    assert len(fits) == MAX_LINE_BYTES and len(huge) > 2 * MAX_LINE_BYTES
    stream = io.BytesIO(huge + b"\n" + json.dumps(WRISTBAND).encode() + b"\n" + fits + b"\n" + huge)
    out = list(decode_lines(BleDecoder(), read_lines(stream)))
    assert out[0] == out[3] == {"error": f"line longer than {MAX_LINE_BYTES} bytes"}
    assert out[1]["readings"][0]["kind"] == out[2]["readings"][0]["kind"] == "wristband"
    assert len(out) == 4
