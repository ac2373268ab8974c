"""The gate's whitelist: plate normalisation, configured plus pushed plates, and the HTTP API (token, validation,
the same list through the settings API, kept across a restart of `edge run`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from edge.errors import BadPlateError
from edge.whitelist import Whitelist, check_plates, normalise_plate, whitelist_section
from tests.conftest import Gateway

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("raw, plate", [
    ("湘A12345", "湘A12345"), ("湘a·12345", "湘A12345"), (" 湘A 12345 ", "湘A12345"), ("湘Ａ１２３４５", "湘A12345"),
    ("粤B-D1234-5", "粤BD12345"), ("粤Z1234港", "粤Z1234港"), ("使123456", "使123456"),
])
def test_plates_are_normalised(raw, plate):
    assert normalise_plate(raw) == plate
    assert check_plates([raw]) == [plate]


def test_a_list_with_bad_entries_names_them_all():
    with pytest.raises(BadPlateError) as e:
        check_plates(["湘A12345", "12345", 7, "湘A1", "湘A12345"])
    assert str(e.value) == ("not a Chinese plate number the gate can read (e.g. 湘A12345; no letter I or O): "
                            "plates[1] = '12345'; plates[2] = 7; plates[3] = '湘A1'")
    assert check_plates(["湘A12345", "湘a12345"]) == ["湘A12345"]  # the same plate twice is once


@pytest.mark.parametrize("raw", [
    "湘A1234O", "湘AI2345", "湘AO1234", "中A12345", "日A12345", "湘112345", "湘A1234", "湘A123学5", "湘A1234567",
    "湘A12345学学", "湘A12345678", "湘AD1234X",
])
def test_entries_the_reader_can_never_read_are_not_plates(raw):
    with pytest.raises(BadPlateError, match="not a Chinese plate number"):
        check_plates([raw])


def test_the_whitelist_accepts_what_the_reader_can_read():
    from edge.whitelist import PLATE_RE
    from vision.plates import PLATE_PATTERN

    assert PLATE_RE.pattern == PLATE_PATTERN.pattern  # a copy, so that the whitelist does not import OpenCV


def test_every_bad_entry_is_named_up_to_a_bound():
    bad = [f"湘A1234{c}" for c in "IOIOIOIOIO"]  # 10 plates with letters the reader has not
    with pytest.raises(BadPlateError) as e:
        check_plates(["湘A12345", *bad])
    assert all(f"plates[{i}] = '{p}'" in str(e.value) for i, p in enumerate(bad, 1)) and "more" not in str(e.value)
    with pytest.raises(BadPlateError) as e:
        check_plates(bad * 3)
    assert "plates[19] = " in str(e.value) and "plates[20]" not in str(e.value) and str(e.value).endswith(
        "(and 10 more)")


def test_the_bound_counts_entries_as_the_api_does():
    from edge.api.gate import WhitelistPut

    plates = [f"湘A{i:05d}" for i in range(20_000)]
    assert len(check_plates(plates)) == 20_000
    with pytest.raises(BadPlateError, match="20001 entries; at most 20000"):
        check_plates(plates + ["湘A00000"])  # a repeat is an entry too: the API's list refuses it as well
    with pytest.raises(ValueError):
        WhitelistPut(plates=plates + ["湘A00000"])


def test_configured_and_pushed_plates_both_open_and_a_push_replaces_the_last():
    wl = Whitelist(["湘A12345"])
    assert "湘A12345" in wl and "湘a·12345" in wl and "湘B11111" not in wl and None not in wl
    assert wl.replace(["湘B11111", "湘B22222"], NOW) == {"plates": 2, "total": 3}
    assert all(p in wl for p in ("湘A12345", "湘B11111", "湘B22222"))
    wl.replace(["湘B22222"], NOW)
    assert "湘B11111" not in wl and "湘B22222" in wl and "湘A12345" in wl and len(wl) == 2
    assert wl.to_dict() == {"configured": ["湘A12345"], "count": 2,
                            "pushed": {"plates": ["湘B22222"], "updated": "2026-11-23T10:00:00.000Z"}}


def test_a_bad_push_changes_nothing():
    wl = Whitelist([])
    wl.replace(["湘B11111"], NOW)
    with pytest.raises(BadPlateError):
        wl.replace(["湘B22222", "nope"], NOW)
    assert "湘B11111" in wl and "湘B22222" not in wl


def test_the_pushed_section_is_a_list_of_plates():
    assert whitelist_section(["湘a 12345"]) == ["湘A12345"]
    for raw in ({"plates": ["湘A12345"]}, "湘A12345", None):
        with pytest.raises(ValueError, match="a JSON list of plates"):
            whitelist_section(raw)


# ---- over HTTP, on `edge run` -------------------------------------------------------------------------------------

@pytest.fixture
def gate_gateway(make_gateway, tmp_path) -> Gateway:
    clip = tmp_path / "none.mp4"  # no camera: the whitelist works without one
    return make_gateway(gate={"cameras": [{"name": "gate-1", "source": str(clip)}], "residents": ["湘A12345"],
                              "relay": ""})


def test_whitelist_api_needs_the_token_checks_plates_and_keeps_the_list_across_restarts(gate_gateway):
    gw = gate_gateway.start()
    url = gw.url + "/api/v1/gate/whitelist"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.put(url, json={"plates": ["湘B11111"]}, timeout=5).status_code == 401
    r = requests.put(url, json={"plates": ["湘b·11111", "湘B22222"]}, headers=gw.auth, timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["pushed"]["plates"] == ["湘B11111", "湘B22222"] and r.json()["count"] == 3
    pushed_at = r.json()["pushed"]["updated"]
    bad = requests.put(url, json={"plates": ["湘B33333", "ABC"]}, headers=gw.auth, timeout=5)
    assert bad.status_code == 422 and "plates[1] = 'ABC'" in bad.json()["detail"]
    assert requests.put(url, json={"plate": "湘B33333"}, headers=gw.auth, timeout=5).status_code == 422
    assert gw.stop() == 0
    gw.start()
    kept = requests.get(url, headers=gw.auth, timeout=5).json()
    assert kept["configured"] == ["湘A12345"] and kept["pushed"]["plates"] == ["湘B11111", "湘B22222"]
    assert kept["pushed"]["updated"] == pushed_at  # when it was pushed, not when the gateway restarted
    [event] = gw.get("/api/v1/events", params={"kind": "gateway.config_applied"}).json()
    assert event["data"]["applied"] == {"plate_whitelist": {"plates": 2, "total": 3}}
    # the same section through the settings API (and the central server's downlink)
    r = requests.put(gw.url + "/api/v1/settings/plate_whitelist", json=["湘C55555"], headers=gw.auth, timeout=5)
    assert r.status_code == 200 and r.json()["applied"] == {"plates": 1, "total": 2}
    assert requests.get(url, headers=gw.auth, timeout=5).json()["pushed"]["plates"] == ["湘C55555"]


def test_without_a_gate_the_whitelist_api_says_so(gateway):
    r = requests.get(gateway.url + "/api/v1/gate/whitelist", headers=gateway.auth, timeout=5)
    assert r.status_code == 404 and "[gate]" in r.json()["detail"]
