"""End to end: simulated bands through bleak's scanner seam, the decoder and the rules into a real store."""

from __future__ import annotations

import asyncio
import time

import requests

from edge.ble import BleSubsystem
from edge.clock import Clock
from edge.config import BleConfig, WristbandConfig
from edge.events import Priority
from edge.store import EventStore
from sensors.simulate import SimBand, SimScannerBackend, SimWorld


def run_building(store: EventStore, world: SimWorld, seconds: float, **ble: object) -> tuple[BleSubsystem, dict]:
    config = BleConfig(wristbands=[WristbandConfig(band=b.band_id, flat=f"1-10{i}")
                                   for i, b in enumerate(world.bands)], **ble)
    stamps: dict = {}

    async def scenario() -> BleSubsystem:
        sub = BleSubsystem(config, store.emit, Clock(), backend=SimScannerBackend,
                           backend_kwargs={"world": world, "time_scale": 1.0})
        inner = sub.on_advertisement

        def spy(adv):  # when the first SOS advertisement reaches the gateway
            if adv.manufacturer_data and adv.manufacturer_data[0xFFFF][6] & 0x01:
                stamps.setdefault("sos_heard", time.monotonic())
            inner(adv)

        sub.scanner._on_advertisement = spy
        store.add_listener(lambda batch: [stamps.setdefault("sos_stored", time.monotonic())
                                          for e in batch if e.kind == "wristband.sos"])
        task = asyncio.create_task(sub.run())
        await asyncio.sleep(seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return sub

    return asyncio.run(scenario()), stamps


def events(store: EventStore, kind: str) -> list:
    return [e for e in store_events(store) if e.kind == kind]


def store_events(store: EventStore) -> list:
    from edge.reader import EventReader

    reader = EventReader.open(store.path, device_id=store.device_id, building_id=store.building_id)
    try:
        return reader.events(after=0, limit=10_000)
    finally:
        reader.close()


def test_sos_is_stored_within_a_second_and_a_silent_band_is_missing_once(tmp_path):
    store = EventStore.open(tmp_path / "edge.db", device_id="t-gw1", building_id="b01")
    world = SimWorld([
        SimBand("000000a1", "C0:FF:EE:00:00:A1", sos_at=(1.0, 1.5, 2.0)),
        SimBand("000000a2", "C0:FF:EE:00:00:A2", leaves_at=0.5),
        SimBand("000000a3", "C0:FF:EE:00:00:A3"),
    ])
    try:
        sub, stamps = run_building(store, world, 4.0, missing_after_hours=1.5 / 3600)
        sos = events(store, "wristband.sos")
        missing = events(store, "wristband.missing")
    finally:
        store.close()

    assert len(sos) == 1  # three presses, one incident
    assert sos[0].priority is Priority.CRITICAL and sos[0].data["band"] == "000000a1"
    assert sos[0].data["flat"] == "1-100" and sos[0].source == "band-000000a1"
    assert stamps["sos_stored"] - stamps["sos_heard"] < 1.0
    assert [e.data["band"] for e in missing] == ["000000a2"]
    assert missing[0].priority is Priority.HIGH
    assert sub.health()["ok"] is False  # stopped now
    assert sub.counts["decode_errors"] == 0 and sub.counts["events"] >= 5


def test_unknown_bands_are_counted_not_stored(tmp_path):
    store = EventStore.open(tmp_path / "edge.db", device_id="t-gw1", building_id="b01")
    world = SimWorld([SimBand("000000b1", "C0:FF:EE:00:00:B1"), SimBand("000000b2", "C0:FF:EE:00:00:B2"),
                      SimBand("000000b3", "C0:FF:EE:00:00:B3", sos_at=(0.2,))])
    try:
        config = BleConfig(wristbands=[WristbandConfig(band="000000b1", flat="2-201")])

        async def scenario():
            sub = BleSubsystem(config, store.emit, Clock(), backend=SimScannerBackend,
                               backend_kwargs={"world": world, "time_scale": 1.0})
            task = asyncio.create_task(sub.run())
            await asyncio.sleep(1.5)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return sub

        sub = asyncio.run(scenario())
        stored = store_events(store)
    finally:
        store.close()
    # an unregistered band is only counted, but its SOS is still raised (no flat: staff find it by band id)
    assert {e.source for e in stored} == {"band-000000b1", "band-000000b3"}
    [sos] = [e for e in stored if e.source == "band-000000b3"]
    assert sos.kind == "wristband.sos" and sos.priority is Priority.CRITICAL and sos.data["flat"] is None
    assert sub.registry.unknown == {"000000b2", "000000b3"}


def test_edge_run_simulated_building_has_wristbands(make_gateway):
    gw = make_gateway(simulate={"enabled": True, "speed": 10.0},
                      ble={"missing_after_hours": 0.0006, "heart_rate_sustained_s": 2}).start()
    deadline = time.monotonic() + 20
    kinds: set[str] = set()
    while time.monotonic() < deadline and not {"wristband.sos", "wristband.missing", "wristband.fall"} <= kinds:
        time.sleep(0.3)
        kinds = {e["kind"] for e in gw.get("/api/v1/events?limit=1000").json()}
    health = requests.get(gw.url + "/healthz", timeout=5).json()
    assert {"wristband.sos", "wristband.fall", "wristband.missing", "wristband.seen", "wristband.heart_rate"} <= kinds
    kiosk = requests.get(gw.url + "/api/v1/kiosk", timeout=5).text
    assert not any(w in kiosk for w in ("wristband", "heart_rate", "b000000"))  # the public page: no health data
    ble = health["subsystems"]["ble"]
    assert ble["state"] == "running" and ble["scanner"] == "scanning" and ble["ok"]
    assert ble["mode"] in ("passive", "active")
    assert "edge_ble_advertisements" in requests.get(gw.url + "/metrics", timeout=5).text


def drain(sub: BleSubsystem) -> list:
    out = []
    while not sub._queue.empty():
        out.append(sub._queue.get_nowait()[2])
    return out


def test_an_unregistered_band_raises_its_second_incident_like_a_registered_one():
    from edge.clock import FakeClock
    from sensors.readings import Advertisement
    from sensors.wristband import WristbandState, encode_wristband

    def sos_events(registered: bool) -> list[list[int]]:
        config = BleConfig(wristbands=[WristbandConfig(band="0a1b2c3d", flat="3-201")] if registered else [])
        clock = FakeClock()
        sub = BleSubsystem(config, _discard, clock)

        def adv(sos: bool, counter: int) -> list[int]:
            payload = encode_wristband(WristbandState("0a1b2c3d", sos, counter, 0, 80, 70, True, False, False))
            clock.advance(1.0)
            sub.on_advertisement(Advertisement("C0:FF:EE:00:00:01", -60, None, {0xFFFF: payload}))
            return [e.data["sos_counter"] for e in drain(sub) if e.kind == "wristband.sos"]

        # incident 1, repeated; cancelled; the band reboots (counter back to 0); a new press (counter 1 again)
        return [adv(True, 1), adv(True, 1), adv(False, 1), adv(False, 0), adv(True, 1)]

    assert sos_events(registered=True) == [[1], [], [], [], [1]]
    assert sos_events(registered=False) == [[1], [], [], [], [1]]


async def _discard(event) -> None:
    pass


def test_an_sos_the_store_refuses_at_first_is_offered_again_until_stored(monkeypatch):
    """The rules mark an incident raised when they make its event: a store error must not lose it."""
    import edge.ble
    from edge.clock import FakeClock
    from sensors.readings import Advertisement
    from sensors.wristband import WristbandState, encode_wristband

    monkeypatch.setattr(edge.ble, "RETRY_FIRST_S", 0.01, raising=False)
    stored, refusals = [], {"n": 3}

    async def flaky(event) -> None:
        if refusals["n"] > 0:
            refusals["n"] -= 1
            raise OSError("disk I/O error")
        stored.append(event)

    async def scenario() -> BleSubsystem:
        sub = BleSubsystem(BleConfig(wristbands=[WristbandConfig(band="0a1b2c3d", flat="3-201")]), flaky,
                           FakeClock())
        payload = encode_wristband(WristbandState("0a1b2c3d", True, 1, 0, 80, None, True, False, False))
        sub.on_advertisement(Advertisement("C0:FF:EE:00:00:01", -60, None, {0xFFFF: payload}))
        task = asyncio.create_task(sub._emitter())
        deadline = time.monotonic() + 5
        while not any(e.kind == "wristband.sos" for e in stored) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return sub

    sub = asyncio.run(scenario())
    # the SOS was refused three times and stored on its fourth offer; wristband.seen (normal) was not retried
    assert [e.kind for e in stored] == ["wristband.sos"]
    assert sub.counts["emit_errors"] == 3 and sub.counts["emit_retries"] == 2 and sub.counts["events"] == 1


def _band_adv(sub: BleSubsystem, clock, band_id: str, *, battery: int = 80, bpm: int = 70, sos: bool = False,
              fall: bool = False) -> None:
    from sensors.readings import Advertisement
    from sensors.wristband import WristbandState, encode_wristband

    payload = encode_wristband(WristbandState(band_id, sos, 1, 0, battery, bpm, True, False, fall))
    sub.on_advertisement(Advertisement(f"C0:FF:EE:00:{band_id[-4:-2]}:{band_id[-2:]}", -60, None, {0xFFFF: payload}))


def test_wristband_alerts_go_on_across_a_restart(tmp_path):
    """The rules started empty: an alert open when the gateway stopped was never closed once its condition had
    cleared during the downtime (a band charged, a rate back to normal), and one still there was raised again."""
    from edge.clock import FakeClock

    bands = {"charged": "000000c1", "calmer": "000000c2", "still_low": "000000c3", "away": "000000c4"}
    config = BleConfig(wristbands=[WristbandConfig(band=b, flat=f"1-10{i}") for i, b in enumerate(bands.values())],
                       heart_rate_sustained_s=30, missing_after_hours=1)
    clock = FakeClock()

    def play(store: EventStore, *, before_restart: bool) -> None:
        sub = BleSubsystem(config, store.emit, clock, store=None if before_restart else store)
        for _ in range(40):  # 40 s of advertisements, one a second
            clock.advance(1.0)
            _band_adv(sub, clock, bands["charged"], battery=10 if before_restart else 90)
            _band_adv(sub, clock, bands["calmer"], bpm=150 if before_restart else 75)
            _band_adv(sub, clock, bands["still_low"], battery=10)
        clock.advance(3580)  # the band never heard is silent an hour, the others not yet
        sub._enqueue(sub.rules.check_missing(sub.registry.bands(), clock.monotonic()))
        store.append(drain(sub))

    store = EventStore.open(tmp_path / "edge.db", device_id="t-gw1", building_id="b01", clock=clock)
    play(store, before_restart=True)
    raised = {(a.kind, a.source) for a in store.alerts(state="open")}
    assert ("wristband.battery_low", "band-000000c1") in raised and len(raised) == 4
    [charged] = [a for a in store.alerts(state="open") if a.source == "band-000000c1"]
    store.ack_alert(charged.id, by="staff")  # acknowledged, not yet resolved: the charge closes it too
    store.close()

    store = EventStore.open(tmp_path / "edge.db", device_id="t-gw1", building_id="b01", clock=clock)
    try:
        play(store, before_restart=False)
        left = [(a.kind, a.source, a.count) for a in store.alerts(state="open") + store.alerts(state="acked")]
        alerting = [e.kind for e in store_events(store) if e.priority is Priority.HIGH]
    finally:
        store.close()
    assert sorted(left) == [("wristband.battery_low", "band-000000c3", 1), ("wristband.missing", "band-000000c4", 1)]
    assert sorted(alerting) == ["wristband.battery_low", "wristband.battery_low", "wristband.heart_rate_alert",
                                "wristband.missing"]  # all from before the restart


def test_a_fall_is_stored_critical_with_an_alert_staff_acknowledge(tmp_path):
    from edge.clock import FakeClock

    clock = FakeClock()
    store = EventStore.open(tmp_path / "edge.db", device_id="t-gw1", building_id="b01", clock=clock)
    sub = BleSubsystem(BleConfig(wristbands=[WristbandConfig(band="000000d1", flat="2-201")]), store.emit, clock)
    try:
        for fall in (True, True, True, False, True):  # one incident advertised three times, cleared, a second fall
            clock.advance(1.0)
            _band_adv(sub, clock, "000000d1", fall=fall)
            _band_adv(sub, clock, "000000d9", fall=fall)  # nobody registered this band
            store.append(drain(sub))
            if not fall:
                for a in store.alerts(state="open"):
                    store.ack_alert(a.id, by="staff")
        falls = events(store, "wristband.fall")
        alerts = store.alerts(state="open") + store.alerts(state="acked")
    finally:
        store.close()
    assert [(e.source, e.data["flat"], e.priority) for e in falls] == [
        ("band-000000d1", "2-201", Priority.CRITICAL), ("band-000000d9", None, Priority.CRITICAL)] * 2
    assert sorted((a.source, a.state, a.count) for a in alerts) == [
        ("band-000000d1", "acked", 1), ("band-000000d1", "open", 1), ("band-000000d9", "acked", 1),
        ("band-000000d9", "open", 1)]
