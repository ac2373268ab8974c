"""Pushing a settings section (the wristband registry) over the local API, without a restart."""

import requests

BANDS = [{"band": "0a1b2c3d", "flat": "3-201", "hr_min": 50, "hr_max": 110},
         {"band": "000000b1", "flat": "1-101"}]


def put(gw, section, body):
    return requests.put(f"{gw.url}/api/v1/settings/{section}", json=body, headers=gw.auth, timeout=10)


def test_push_registry_applies_persists_and_survives_restart(make_gateway):
    gw = make_gateway(simulate={"enabled": True, "speed": 1.0}).start()
    assert requests.put(f"{gw.url}/api/v1/settings/wristbands", json=BANDS, timeout=5).status_code == 401
    r = put(gw, "wristbands", BANDS)
    assert r.status_code == 200 and r.json() == {"section": "wristbands", "applied": {"bands": 2}}
    applied = gw.get("/api/v1/events", params={"kind": "gateway.config_applied"}).json()
    assert applied[-1]["data"]["applied"] == {"wristbands": {"bands": 2}} and applied[-1]["source"] == "api"
    assert gw.get("/api/v1/settings").json()["sections"]["wristbands"]["pushed_ts"]
    health = requests.get(gw.url + "/healthz", timeout=5).json()
    assert health["subsystems"]["ble"]["bands"] == 2
    gw.stop()
    gw.start()
    health = requests.get(gw.url + "/healthz", timeout=5).json()
    assert health["subsystems"]["ble"]["bands"] == 2  # the pushed registry came back from disk


def test_bad_pushes_are_4xx_and_change_nothing(make_gateway):
    gw = make_gateway(simulate={"enabled": True, "speed": 1.0}).start()
    before = requests.get(gw.url + "/healthz", timeout=5).json()["subsystems"]["ble"]["bands"]
    r = put(gw, "wristbands", [{"band": "0a1b2c3d"}])  # no flat
    assert r.status_code == 422 and "flat" in r.text
    r = put(gw, "wristbands", {"not": "a list"})
    assert r.status_code == 422
    r = put(gw, "colours", ["red"])
    assert r.status_code == 404 and "wristbands" in r.json()["detail"]
    r = requests.put(f"{gw.url}/api/v1/settings/wristbands", data=b"{oops", headers=gw.auth, timeout=5)
    assert r.status_code == 422
    assert requests.get(gw.url + "/healthz", timeout=5).json()["subsystems"]["ble"]["bands"] == before


def test_a_push_that_cannot_be_saved_is_not_applied(tmp_path):
    import asyncio

    import pytest

    from edge.clock import FakeClock
    from edge.errors import StoreError
    from edge.settings import PushedSettings
    from edge.whitelist import Whitelist, whitelist_section
    from sync.downlink import Applier

    clock, wl, emitted = FakeClock(), Whitelist(["湘A12345"]), []
    path = tmp_path / "pushed-settings.json"
    path.mkdir()  # stands for a write that fails (disk full, read-only, EIO)

    async def emit(event):
        emitted.append(event)

    settings = PushedSettings(path, {"plate_whitelist": Applier(
        whitelist_section, wl.replace)}, emit=emit, clock=clock)
    with pytest.raises(StoreError, match="plate_whitelist could not be saved") as e:  # the API's 503
        asyncio.run(settings.push("plate_whitelist", ["湘B11111"]))
    assert "nothing changed" in str(e.value)
    assert "湘B11111" not in wl and wl.pushed.plates == () and emitted == []
    assert settings.describe()["plate_whitelist"]["pushed_ts"] is None


def test_a_pushed_section_keeps_its_push_time_across_a_restart_and_old_files_still_load(tmp_path):
    import asyncio
    import json

    from edge.clock import FakeClock, rfc3339
    from edge.settings import PushedSettings
    from edge.whitelist import Whitelist, whitelist_section
    from sync.downlink import Applier

    async def emit(event):
        pass

    def restarted(clock: FakeClock) -> Whitelist:
        wl = Whitelist([])
        PushedSettings(path, {"plate_whitelist": Applier(whitelist_section, wl.replace)}, emit=emit,
                       clock=clock).load()
        return wl

    clock, wl, path = FakeClock(), Whitelist([]), tmp_path / "pushed-settings.json"
    settings = PushedSettings(path, {"plate_whitelist": Applier(whitelist_section, wl.replace)}, emit=emit,
                              clock=clock)
    asyncio.run(settings.push("plate_whitelist", ["湘B11111"]))
    pushed_at = wl.to_dict()["pushed"]["updated"]
    assert pushed_at == rfc3339(clock.utcnow())
    clock.advance(3600)  # the gateway restarts an hour later
    assert restarted(clock).to_dict()["pushed"] == {"plates": ["湘B11111"], "updated": pushed_at}
    path.write_text(json.dumps({"plate_whitelist": {"value": ["湘B22222"]}}))  # a file without the time
    assert restarted(clock).to_dict()["pushed"] == {"plates": ["湘B22222"], "updated": None}  # loads; time unknown
