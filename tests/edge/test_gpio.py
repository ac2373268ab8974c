"""The GPIO subsystem on MockFactory with a real store: bins, lights, buttons, the alert lamp, relays, safe state;
the [gpio] configuration; and `edge run` playing the simulated building."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from gpiozero.pins.mock import MockChargingPin, MockFactory, MockPin, MockTriggerPin

from edge.alerts import Alert
from edge.bus import EventBus
from edge.clock import FakeClock
from edge.config import GpioConfig, SiteConfig, load_config
from edge.doctor import Account, DoctorContext, Status, check_gpio, gpio_pin_result
from edge.errors import ConfigError
from edge.events import NewEvent, Priority
from edge.gpio import Alerts, GpioSubsystem, lamp_on
from edge.store import EventStore
from sensors.errors import UnknownDeviceError
from sensors.gpio import GpioDevices
from sensors.gpio_sim import echo_time
from tests.conftest import REPO, base_config, to_toml

BIN = {"name": "bin-1", "trigger_pin": 23, "echo_pin": 24, "empty_depth_m": 2.0, "full_distance_m": 0.2,
       "full_after_s": 60, "emptied_after_s": 30, "interval_s": 1, "fault_after_s": 120}
NIGHT_LIGHT = {"name": "corridor-1", "pin": 5, "lit_from": "18:00", "lit_until": "06:00", "debounce_s": 5,
               "fault_after_s": 120}


async def until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """The mock pins run real threads: wait for a condition with a deadline, never a bare sleep."""
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)
    return value


async def fed(tracker: Any, clock: FakeClock) -> None:
    """Wait until the subsystem's loop has fed the tracker at the clock's current time."""
    now = clock.monotonic()
    await until(lambda: tracker.last_feed == now, what="a feed at the new time")


def make(pins: MockFactory, store: EventStore, clock: FakeClock, *, alerts: Alerts | None = None,
         **sections: Any) -> GpioSubsystem:
    cfg = GpioConfig.model_validate({"poll_s": 0.05, **sections})
    devices = GpioDevices.open(cfg, pins)
    return GpioSubsystem(cfg, SiteConfig(), devices, store.emit, clock, factory=pins, factory_kind="mock",
                         alerts=alerts)


def kinds(store: EventStore, kind: str) -> list:
    return store.events(kind=kind, limit=1000)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def level_distance(pct: float) -> float:
    return 2.0 - pct / 100 * 1.8


# ---- bins ---------------------------------------------------------------------------------------------------


def test_bin_full_once_per_filling_then_emptied_then_full_again(pins, store, clock):
    trigger = pins.pin(23, pin_class=MockTriggerPin, echo_pin=pins.pin(24), echo_time=echo_time(level_distance(100)))
    sub = make(pins, store, clock, bins=[BIN])
    tracker = sub.bins["bin-1"]

    async def minutes_until(kind: str, count: int) -> None:
        """Let simulated minutes pass until `count` events of `kind` are stored. The mock's echoes are timed with
        sleep(), which oversleeps on a busy machine (the bin looks emptier): a noisy reading may restart a wait."""
        for _ in range(20):
            if len(kinds(store, kind)) >= count:
                return
            clock.advance(61)
            await fed(tracker, clock)
        raise AssertionError(f"no {kind} #{count} after 20 simulated minutes")

    async def scenario() -> None:
        task = asyncio.create_task(sub.run())
        await until(lambda: (tracker.level or 0) >= 80, what="level >= 80")
        await minutes_until("bin.full", 1)
        for _ in range(3):  # still full, minutes later: not raised again
            clock.advance(61)
            await fed(tracker, clock)
        assert len(kinds(store, "bin.full")) == 1
        [alert] = store.alerts(state="open")
        assert alert.kind == "bin.full" and alert.source == "bin-1"
        trigger.echo_time = echo_time(level_distance(10))
        await until(lambda: (tracker.level or 100) < 30, what="level < 30")
        await minutes_until("bin.emptied", 1)
        assert store.alerts(state="open") == []  # bin.emptied resolved the bin.full alert
        trigger.echo_time = echo_time(level_distance(100))
        await until(lambda: (tracker.level or 0) >= 80, what="level >= 80 again")
        await minutes_until("bin.full", 2)
        health = sub.health()
        await stop(task)
        assert health["bins"]["bin-1"]["full"] is True and health["bins"]["bin-1"]["fault"] is False

    asyncio.run(scenario())
    full = kinds(store, "bin.full")[0]
    assert full.priority is Priority.HIGH and full.data["bin"] == "bin-1" and full.data["level_pct"] >= 80
    assert len(kinds(store, "bin.emptied")) == 1
    levels = kinds(store, "bin.level")
    assert levels and all(set(e.data) == {"bin", "level_pct", "distance_m"} for e in levels)


def test_dead_sensor_is_a_fault_without_levels_then_recovers(pins, store, clock):
    echo = pins.pin(24)
    trigger = pins.pin(23, pin_class=MockTriggerPin, echo_pin=echo, echo_time=echo_time(1.0))
    sub = make(pins, store, clock, bins=[BIN])
    sensor = sub.devices.bins["bin-1"]

    async def scenario() -> None:
        task = asyncio.create_task(sub.run())
        await until(lambda: kinds(store, "bin.level"), what="a first level")
        trigger.echo_pin = MockPin(pins, echo.info)  # the sensor stops answering
        await until(lambda: sensor.last is None and sub.bins["bin-1"].window, what="missed echoes")
        clock.advance(121)
        await until(lambda: kinds(store, "bin.sensor_fault"), what="bin.sensor_fault")
        assert [a.kind for a in store.alerts(state="open")] == ["bin.sensor_fault"]
        assert sub.health()["bins"]["bin-1"] == {"level_pct": None, "full": False, "fault": True}
        for _ in range(3):
            clock.advance(30)
            await fed(sub.bins["bin-1"], clock)
        trigger.echo_pin = echo
        await until(lambda: kinds(store, "bin.sensor_ok"), what="bin.sensor_ok")
        await stop(task)

    asyncio.run(scenario())
    [fault] = kinds(store, "bin.sensor_fault")
    [ok] = kinds(store, "bin.sensor_ok")
    assert fault.priority is Priority.HIGH and fault.data["reason"] == "no_echo"
    assert not [e for e in kinds(store, "bin.level") if fault.seq < e.seq < ok.seq]  # no nonsense levels
    assert store.alerts(state="open") == []


# ---- lights -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("utc_hour", "lit_hours"), [(12, True), (4, False)])  # 20:00 and 12:00 in Shanghai
def test_light_fault_in_lit_hours_and_none_in_daylight(pins, tmp_path, utc_hour, lit_hours):
    clock = FakeClock(datetime(2026, 3, 1, utc_hour, 0, tzinfo=UTC))
    store = EventStore.open(tmp_path / "l.db", device_id="t-gw1", building_id="b01", clock=clock)
    ldr = pins.pin(5, pin_class=MockChargingPin, charge_time=1.0)  # the lamp is dark
    sub = make(pins, store, clock, lights=[NIGHT_LIGHT])
    tracker = sub.lights["corridor-1"]

    async def advance(seconds: float) -> None:
        clock.advance(seconds)
        await fed(tracker, clock)

    async def scenario() -> None:
        task = asyncio.create_task(sub.run())
        await until(lambda: tracker.last_feed is not None, what="the first reading")
        await advance(6)
        await until(lambda: kinds(store, "light.state"), what="the first light.state")
        await advance(121)
        if lit_hours:
            await until(lambda: kinds(store, "light.fault"), what="light.fault")
            ldr.charge_time = 0.0005  # repaired
            await until(sub.devices.lights["corridor-1"].is_lit, what="lit")
            await advance(1)  # a feed that sees it lit, then the debounce
            await advance(6)
            await until(lambda: kinds(store, "light.restored"), what="light.restored")
        else:
            await advance(3600)
        await stop(task)

    try:
        asyncio.run(scenario())
        state = kinds(store, "light.state")[0]
        assert state.data == {"light": "corridor-1", "lit": False, "expected_lit": lit_hours}
        faults = kinds(store, "light.fault")
        assert len(faults) == (1 if lit_hours else 0)
        if lit_hours:
            assert faults[0].priority is Priority.HIGH and faults[0].data["dark_for_s"] >= 120
            assert store.alerts(state="open") == []  # restored closed it
    finally:
        store.close()


# ---- buttons ------------------------------------------------------------------------------------------------


def test_button_presses_short_and_long(pins, store, clock):
    sub = make(pins, store, clock, buttons=[{"name": "lobby-sos", "pin": 17, "emergency": True},
                                            {"name": "lift-call", "pin": 27}])
    sos, call = pins.pin(17), pins.pin(27)

    async def hold(pin: MockPin, name: str, seconds: float) -> None:
        pin.drive_low()
        clock.advance(0.1)
        await until(lambda: sub.buttons[name].pressed, what=f"{name} pressed")
        clock.advance(seconds - 0.1)
        pin.drive_high()
        clock.advance(0.1)
        await until(lambda: not sub.buttons[name].pressed, what=f"{name} released")

    async def scenario() -> None:
        task = asyncio.create_task(sub.run())
        await until(lambda: sub.devices.buttons["lift-call"].device.when_released, what="callbacks")
        await hold(sos, "lobby-sos", 0.5)
        await until(lambda: kinds(store, "button.pressed"), what="button.pressed")
        await hold(call, "lift-call", 3.0)
        await until(lambda: len(kinds(store, "button.pressed")) == 2, what="the long press")
        await stop(task)

    asyncio.run(scenario())
    short, long_ = kinds(store, "button.pressed")
    assert short.source == "lobby-sos" and short.priority is Priority.CRITICAL
    assert short.data == {"button": "lobby-sos", "long": False, "held_s": 0.5, "emergency": True}
    assert long_.source == "lift-call" and long_.priority is Priority.NORMAL and long_.data["long"] is True
    assert [a.kind for a in store.alerts(state="open")] == ["button.pressed"]  # the emergency, for staff


# ---- outputs ------------------------------------------------------------------------------------------------


def alert(priority: Priority, state: str) -> Alert:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    return Alert(1, "k", "x.y", "s", priority, state, 1, 1, 1, t, t, None, None, {})  # type: ignore[arg-type]


def test_lamp_shows_only_open_critical_alerts():
    assert lamp_on([alert(Priority.CRITICAL, "open")])
    assert not lamp_on([alert(Priority.CRITICAL, "acked"), alert(Priority.HIGH, "open")])
    assert not lamp_on([])


def test_alert_lamp_follows_open_critical_alerts(pins, store, clock):
    store.append([NewEvent("wristband.sos", "band-1", {"band": "1"}, Priority.CRITICAL)])  # open before start
    lamp = pins.pin(22)

    async def scenario() -> None:
        bus = EventBus(asyncio.get_running_loop())
        store.add_listener(bus.publish_threadsafe)
        sub = make(pins, store, clock, alerts=Alerts(store, bus),
                   outputs=[{"name": "alert-lamp", "pin": 22, "role": "alert"}])
        task = asyncio.create_task(sub.run())
        await until(lambda: lamp.state is True, what="lamp on for the open SOS")
        [sos] = store.alerts(state="open")
        await store.aack_alert(sos.id, by="warden")
        await until(lambda: lamp.state is False, what="lamp off once acknowledged")
        await store.emit(NewEvent("button.pressed", "lobby-sos", {"button": "lobby-sos"}, Priority.CRITICAL))
        await until(lambda: lamp.state is True, what="lamp on for a new emergency")
        assert sub.health()["alert_outputs_on"] is True
        await stop(task)
        assert lamp.states[-1].state is False  # shutdown: safe state

    asyncio.run(scenario())


def test_relay_pulse_api_records_the_pulse(pins, store, clock):
    sub = make(pins, store, clock, outputs=[{"name": "gate", "pin": 26, "role": "relay"}])
    relay = pins.pin(26)
    relay.clear_states()

    async def scenario() -> None:
        await sub.pulse("gate", 0.1, reason="plate read")
        await until(lambda: [s.state for s in relay.states] == [False, True, False], what="on then off")
        with pytest.raises(ValueError, match="allowed 0 < seconds <= 60"):
            await sub.pulse("gate", 0)
        with pytest.raises(UnknownDeviceError, match="no relay named 'barrier'"):
            await sub.pulse("barrier", 1.0)

    asyncio.run(scenario())
    sub.close()
    [ev] = kinds(store, "relay.pulsed")
    assert ev.source == "gate" and ev.data == {"relay": "gate", "seconds": 0.1, "reason": "plate read"}


def test_shutdown_leaves_every_output_off_and_releases_the_pins(pins, store, clock):
    sub = make(pins, store, clock, outputs=[{"name": "gate", "pin": 26, "role": "relay", "active_high": False},
                                            {"name": "alert-lamp", "pin": 22, "role": "alert", "blink_s": 0.05}])
    gate, lamp = pins.pin(26), pins.pin(22)

    async def scenario() -> None:
        task = asyncio.create_task(sub.run())
        sub.set_relay("gate", True)
        sub.set_alert_outputs(True)
        assert gate.state is False  # active low: on is low
        await until(lambda: len(lamp.states) > 3, what="the lamp blinking")
        await stop(task)

    asyncio.run(scenario())
    assert gate.states[-1].state is True and lamp.states[-1].state is False  # both off
    assert pins.pins == {}  # released
    sub.close()  # twice is fine


# ---- configuration ------------------------------------------------------------------------------------------

README_EXAMPLE = """
[site]
latitude = 31.23
longitude = 121.47

[gpio]
factory = "auto"

[[gpio.bins]]
name = "bin-1"
trigger_pin = 23
echo_pin = 24
empty_depth_m = 1.10
full_distance_m = 0.15

[[gpio.lights]]
name = "corridor-3"
pin = 5

[[gpio.lights]]
name = "street-1"
pin = 6
sensor = "digital"
light_when = "low"
lit_from = "18:30"
lit_until = "06:00"

[[gpio.buttons]]
name = "lobby-sos"
pin = 17
emergency = true

[[gpio.outputs]]
name = "alert-lamp"
pin = 22
role = "alert"

[[gpio.outputs]]
name = "gate"
pin = 26
role = "relay"
"""


def config_problems(tmp_path: Path, gpio_toml: str) -> list[str]:
    path = tmp_path / "edge.toml"
    path.write_text(to_toml(base_config(tmp_path)) + "\n" + gpio_toml)
    with pytest.raises(ConfigError) as e:
        load_config(path, {})
    return [line.removeprefix(f"{path}: ") for line in e.value.problems]


def test_readme_gpio_example_loads(tmp_path):
    readme = (REPO / "README.md").read_text()
    example = readme.split("## Bins, lights and buttons", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "edge.toml"
    path.write_text(to_toml(base_config(tmp_path)) + "\n" + example)
    cfg = load_config(path, {}).gpio
    assert cfg is not None and [b.name for b in cfg.bins] == ["bin-1"] and len(cfg.claims()) == 6
    assert cfg.bins[0].full_pct == 80 and cfg.lights[0].lit_from == "sunset" and cfg.buttons[0].emergency


def test_pin_claimed_twice_names_both_keys(tmp_path):
    lines = config_problems(tmp_path, README_EXAMPLE.replace("pin = 17", "pin = 24"))
    assert lines == ["key gpio.buttons.0.pin: found 24; allowed: a pin no other device uses "
                     "(GPIO24 is already gpio.bins.0.echo_pin)"]


def test_name_used_twice(tmp_path):
    lines = config_problems(tmp_path, README_EXAMPLE.replace('name = "gate"', 'name = "lobby-sos"'))
    assert lines == ["key gpio.outputs.1.name: found \"lobby-sos\"; allowed: a name no other device has "
                     "(gpio.buttons.0 is 'lobby-sos')"]


def test_sunset_needs_the_site_coordinates(tmp_path):
    lines = config_problems(tmp_path, README_EXAMPLE.replace("latitude = 31.23\n", ""))
    assert lines == ["key gpio.lights.0.lit_from: found \"sunset\"; allowed: HH:MM, or set [site] latitude and "
                     "longitude"]


@pytest.mark.parametrize(("change", "expected"), [
    (("full_distance_m = 0.15", "full_distance_m = 1.5"),
     "key gpio.bins.0.full_distance_m: found 1.5; allowed: less than empty_depth_m (1.1)"),
    (("echo_pin = 24", "echo_pin = 24\nemptied_pct = 85"),
     "key gpio.bins.0.emptied_pct: found 85.0; allowed: less than full_pct (80)"),
    (("pin = 5", "pin = 40"), "key gpio.lights.0.pin: found 40; allowed: Input should be less than or equal to 27"),
    (('lit_from = "18:30"', 'lit_from = "6pm"'), "key gpio.lights.1.lit_from: found \"6pm\"; allowed: String should "
     "match pattern '^(sunset|sunrise|([01]\\d|2[0-3]):[0-5]\\d)$'"),
])
def test_bad_values_name_the_key(tmp_path, change, expected):
    assert config_problems(tmp_path, README_EXAMPLE.replace(*change)) == [expected]


def test_unknown_key_in_a_device_lists_the_allowed_ones(tmp_path):
    [line] = config_problems(tmp_path, README_EXAMPLE.replace("emergency = true", "emergncy = true"))
    assert line.startswith("key gpio.buttons.0.emergncy: unknown key; allowed here: debounce_s, emergency,")


# ---- the gateway --------------------------------------------------------------------------------------------


def edge_cli(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)


def test_simulated_building_shows_every_incident_within_600_simulated_seconds(make_gateway):
    """`make demo` runs at speed 10: its first minute is 600 simulated seconds. At speed 20 that is 30 s (at 30 the
    simulation's 20 ms ticks are 0.6 simulated s, and a loaded machine's late tick made the short press long)."""
    gw = make_gateway(simulate={"enabled": True, "speed": 20.0})
    gw.start()
    started = time.monotonic()
    wanted = {"bin.full", "light.fault", "light.restored", "button.pressed"}
    seen: dict[str, list[dict[str, Any]]] = {}
    while not wanted <= set(seen) or len(seen.get("button.pressed", [])) < 2:
        assert time.monotonic() - started < 30.0, f"after 600 simulated seconds only {sorted(seen)}"
        seen = {}
        for ev in gw.get("/api/v1/events?limit=1000").json():
            seen.setdefault(ev["kind"], []).append(ev)
        time.sleep(0.2)
    assert seen["bin.full"][0]["source"] == "bin-1" and seen["bin.full"][0]["data"]["level_pct"] >= 80
    assert seen["light.fault"][0]["source"] == "corridor-1"
    sos, lift = seen["button.pressed"]
    assert sos["priority"] == "critical" and not sos["data"]["long"] and lift["data"]["long"]
    assert "sim_bins" not in gw.get("/healthz").json()["subsystems"]  # the stand-in is gone
    gpio = gw.get("/healthz").json()["subsystems"]["gpio"]
    assert gpio["state"] == "running" and gpio["factory"] == "mock" and gpio["alert_outputs_on"] is True
    report = gw.get("/api/v1/gpio/pins").json()
    assert report["factory"] == "mock"
    assert [p["pin"] for p in report["pins"]] == [5, 6, 12, 17, 22, 23, 24, 25, 26, 27]
    metrics = requests.get(gw.url + "/metrics", timeout=10).text
    assert 'edge_bin_level_pct{bin="bin-1"}' in metrics and "edge_gpio_alert_outputs_on 1.0" in metrics
    assert 'edge_gpio_device_fault{device="corridor-1",kind="light"}' in metrics
    cli = edge_cli("gpio", "pins", "--json", "--config", str(gw.config_path))
    assert cli.returncode == 0 and json.loads(cli.stdout)["source"] == "gateway"
    lines = check_gpio(DoctorContext.load(gw.config_path, account=Account.default()))
    assert len(lines) == 10 and all(r.check == "gpio" and r.detail.startswith("GPIO") for r in lines)
    assert any(r.detail.startswith("GPIO17 lobby-sos (button emergency): ") for r in lines)
    assert gw.stop() == 0


def test_missing_gpio_chip_stops_the_gateway_with_exit_2(tmp_path):
    pytest.importorskip("lgpio", reason="lgpio (the `pi` extra, also in the `test` extra) is not installed")
    path = tmp_path / "edge.toml"
    doc = base_config(tmp_path, gpio={"factory": "lgpio", "chip": 15,
                                      "outputs": [{"name": "gate", "pin": 26, "role": "relay"}]})
    path.write_text(to_toml(doc))
    run = edge_cli("run", "--config", str(path))
    assert run.returncode == 2
    assert f"{path}: key gpio.chip: cannot open /dev/gpiochip15" in run.stderr


def test_gpio_pins_command_opens_the_pins_when_no_gateway_runs(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text(to_toml(base_config(tmp_path, simulate={"enabled": True})))
    out = edge_cli("gpio", "pins", "--json", "--config", str(path))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["source"] == "direct" and report["factory"] == "mock"
    echo = next(p for p in report["pins"] if p["device"] == "bin-1" and p["role"] == "echo")
    assert echo["value"] == pytest.approx(1.0 - 0.85 * 0.62, abs=0.08)  # the script's first moment: 62 %
    text = edge_cli("gpio", "pins", "--config", str(path))
    assert "pins, read opened here" in text.stdout and "lobby-sos" in text.stdout


def test_gpio_pins_command_without_gpio(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text(to_toml(base_config(tmp_path)))
    out = edge_cli("gpio", "pins", "--config", str(path))
    assert out.returncode == 1 and "no GPIO devices are configured" in out.stderr


# ---- edge doctor ----------------------------------------------------------------------------------------------


def test_doctor_opens_the_pins_when_no_gateway_runs(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text(to_toml(base_config(tmp_path, simulate={"enabled": True})))
    lines = check_gpio(DoctorContext.load(path, account=Account.default(), timeout=1.0))
    echo = next(r for r in lines if "bin-1 (bin echo)" in r.detail)
    assert echo.status is Status.PASS and " m (ok, level " in echo.detail
    assert len(lines) == 10


def test_doctor_says_when_the_pins_cannot_be_opened(tmp_path):
    pytest.importorskip("lgpio", reason="lgpio (the `pi` extra, also in the `test` extra) is not installed")
    path = tmp_path / "edge.toml"
    path.write_text(to_toml(base_config(tmp_path, gpio={
        "factory": "lgpio", "chip": 15, "buttons": [{"name": "lobby-sos", "pin": 17}]})))
    [line] = check_gpio(DoctorContext.load(path, account=Account.default(), timeout=1.0))
    assert line.status is Status.FAIL and "gpio.chip: cannot open /dev/gpiochip15" in line.detail


def test_doctor_without_gpio_says_nothing(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text(to_toml(base_config(tmp_path)))
    assert check_gpio(DoctorContext.load(path, account=Account.default(), timeout=1.0)) == []


@pytest.mark.parametrize(("row", "faulty", "status"), [
    ({"pin": 24, "device": "bin-1", "kind": "bin", "role": "echo", "reading": "no echo"}, False, Status.WARN),
    ({"pin": 24, "device": "bin-1", "kind": "bin", "role": "echo", "reading": "0.400 m (ok, level 70 %)"}, True,
     Status.WARN),
    ({"pin": 24, "device": "bin-1", "kind": "bin", "role": "echo", "reading": "0.400 m (ok, level 70 %)"}, False,
     Status.PASS),
    ({"pin": 5, "device": "corridor-1", "kind": "light", "role": "ldr", "reading": "dark (value 0.00)"}, True,
     Status.WARN),
    ({"pin": 17, "device": "lobby-sos", "kind": "button", "role": "emergency", "reading": "released (pin high)"},
     False, Status.PASS),
])
def test_doctor_line_per_pin(row, faulty, status):
    line = gpio_pin_result(row, faulty)
    assert line.status is status and line.detail.startswith(f"GPIO{row['pin']}")
    assert bool(line.action) is (status is not Status.PASS)


def test_a_bin_sensor_stops_its_reading_thread_before_its_trigger_pin_closes() -> None:
    # gpiozero's DistanceSensor.close() drops the trigger first and then stops the thread that pulses it; a read in
    # between fails with a traceback (seen at the end of tests/bench/gpio.py). Ours stops the thread first.
    from sensors.gpio import _EchoRecorder

    factory = MockFactory()
    echo = factory.pin(24)
    factory.pin(23, pin_class=MockTriggerPin, echo_pin=echo, echo_time=0.002)
    sensor = _EchoRecorder(24, 23, pin_factory=factory)
    queue, seen = sensor._queue, []
    stop = queue.stop
    queue.stop = lambda *a: (seen.append(sensor._trigger is not None and queue.is_alive()), stop(*a))
    sensor.close()
    factory.close()
    assert seen[0] is True and not queue.is_alive()


def test_a_press_released_between_two_polls_is_reported(pins, store, clock):
    """The pin goes down and up again (300 ms on the clock) before the subsystem's loop ticks in between."""
    sub = make(pins, store, clock, buttons=[{"name": "lobby-sos", "pin": 17, "emergency": True, "debounce_s": 0.05}])
    sos = pins.pin(17)

    async def scenario() -> None:
        task = asyncio.create_task(sub.run())
        await until(lambda: sub.devices.buttons["lobby-sos"].device.when_released, what="callbacks")
        sos.drive_low()
        await until(lambda: sub.buttons["lobby-sos"].deadline() is not None, what="the press edge, not yet settled")
        clock.advance(0.3)
        sos.drive_high()
        clock.advance(0.1)  # the release settles at the next poll
        await until(lambda: kinds(store, "button.pressed"), what="button.pressed")
        await stop(task)

    asyncio.run(scenario())
    [press] = kinds(store, "button.pressed")
    assert press.data == {"button": "lobby-sos", "long": False, "held_s": 0.3, "emergency": True}


# ---- restarts: alerts open when the gateway stopped ---------------------------------------------------------


async def minutes(sub: GpioSubsystem, tracker: Any, clock: FakeClock, n: int,
                  until_cond: Callable[[], Any] | None = None) -> None:
    """Let up to `n` simulated minutes pass (stopping early once `until_cond` holds)."""
    for _ in range(n):
        if until_cond and until_cond():
            return
        clock.advance(61)
        await fed(tracker, clock)


@pytest.mark.parametrize("acked", [False, True])
@pytest.mark.parametrize("emptied", [True, False])
def test_a_full_bin_alert_open_at_a_stop_is_closed_after_restart_or_not_raised_again(store, clock, acked, emptied):
    """The gateway stops with bin.full open (or acknowledged: staff took it up); the bin is emptied meanwhile, or
    not. After the restart the alert is closed by bin.emptied, or, the bin still full, not raised a second time."""

    async def life(level: float, stop_when: Callable[[], Any], n: int) -> None:
        pins = MockFactory()
        pins.pin(23, pin_class=MockTriggerPin, echo_pin=pins.pin(24), echo_time=echo_time(level_distance(level)))
        sub = make(pins, store, clock, alerts=Alerts(store), bins=[BIN])
        task = asyncio.create_task(sub.run())
        await until(lambda: sub.bins["bin-1"].level is not None, what="a level")
        await minutes(sub, sub.bins["bin-1"], clock, n, stop_when)
        await stop(task)  # the gateway stops: its subsystem closes the pins and the factory
        pins.reset()

    asyncio.run(life(100, lambda: kinds(store, "bin.full"), 20))
    [full] = store.alerts(state="open")
    if acked:
        store.ack_alert(full.id, by="warden")
    clock.advance(3600)  # stopped for an hour
    # a few minutes only: on a busy machine the mock's late echoes make a full bin look emptier
    asyncio.run(life(10 if emptied else 100, lambda: kinds(store, "bin.emptied"), 3))
    assert len(kinds(store, "bin.full")) == 1
    assert len(kinds(store, "bin.emptied")) == (1 if emptied else 0)
    [after] = store.alerts(state=None)
    assert after.id == full.id and after.state == ("resolved" if emptied else "acked" if acked else "open")


@pytest.mark.parametrize("repaired", [True, False])
def test_a_light_fault_open_at_a_stop_is_restored_after_restart_or_not_raised_again(pins, tmp_path, repaired):
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))  # 20:00 in Shanghai: lit hours
    store = EventStore.open(tmp_path / "l.db", device_id="t-gw1", building_id="b01", clock=clock)
    store.append([NewEvent("light.fault", "corridor-1", {"light": "corridor-1", "dark_for_s": 120.0},
                           Priority.HIGH)])  # stored by the gateway's last run, which then stopped
    clock.advance(600)
    pins.pin(5, pin_class=MockChargingPin, charge_time=0.0005 if repaired else 1.0)
    sub = make(pins, store, clock, alerts=Alerts(store), lights=[NIGHT_LIGHT])
    tracker = sub.lights["corridor-1"]

    async def scenario() -> None:
        task = asyncio.create_task(sub.run())
        await until(lambda: tracker.last_feed is not None, what="the first feed")
        if repaired:
            await until(sub.devices.lights["corridor-1"].is_lit, what="the first reading, lit")
        for _ in range(5):  # past debounce_s and fault_after_s
            clock.advance(61)
            await fed(tracker, clock)
        await stop(task)

    try:
        asyncio.run(scenario())
        assert len(kinds(store, "light.fault")) == 1
        [restored] = kinds(store, "light.restored") or [None]
        assert (restored is not None) is repaired
        if repaired:
            assert restored.data["fault_s"] >= 600  # since the fault, not since the restart
        assert [a.state for a in store.alerts(state=None)] == ["resolved" if repaired else "open"]
    finally:
        store.close()


@pytest.mark.parametrize("answering", [True, False])
def test_a_bin_sensor_fault_open_at_a_stop_is_closed_after_restart_or_not_raised_again(pins, store, clock,
                                                                                       answering):
    store.append([NewEvent("bin.sensor_fault", "bin-1", {"bin": "bin-1", "reason": "no_echo"}, Priority.HIGH)])
    echo = pins.pin(24)
    pins.pin(23, pin_class=MockTriggerPin, echo_pin=echo if answering else MockPin(pins, echo.info),
             echo_time=echo_time(level_distance(20)))
    sub = make(pins, store, clock, alerts=Alerts(store), bins=[BIN])
    tracker = sub.bins["bin-1"]

    async def scenario() -> None:
        task = asyncio.create_task(sub.run())
        await until(lambda: tracker.last_feed is not None, what="the first feed")
        await minutes(sub, tracker, clock, 4, lambda: kinds(store, "bin.sensor_ok"))  # past fault_after_s
        await stop(task)

    asyncio.run(scenario())
    assert len(kinds(store, "bin.sensor_fault")) == 1
    assert len(kinds(store, "bin.sensor_ok")) == (1 if answering else 0)
    assert [a.state for a in store.alerts(state=None)] == ["resolved" if answering else "open"]


def test_a_broken_street_lamp_is_one_fault_through_twilight_not_restored_every_dawn_and_dusk(pins, tmp_path):
    """Beijing in December, astral's sun: the lamp is broken all along, and its sensor sees the sky until the sun is
    4° below the horizon. Judged in twilight, it was restored each dawn and dusk and raised again each night."""
    import astral.sun

    beijing = SiteConfig(latitude=39.90, longitude=116.40, timezone="Asia/Shanghai")
    sky = astral.Observer(39.90, 116.40)
    clock = FakeClock(datetime(2026, 12, 20, 22, 0, tzinfo=UTC))  # 06:00 in Beijing, dark
    store = EventStore.open(tmp_path / "s.db", device_id="t-gw1", building_id="b01", clock=clock)
    cfg = GpioConfig.model_validate({"poll_s": 0.05, "lights": [
        {"name": "street-1", "pin": 6, "sensor": "digital", "light_when": "high", "debounce_s": 5,
         "fault_after_s": 120}]})  # sunset .. sunrise
    sub = GpioSubsystem(cfg, beijing, GpioDevices.open(cfg, pins), store.emit, clock, factory=pins,
                        factory_kind="mock")
    sensor, tracker = pins.pin(6), sub.lights["street-1"]

    async def minutes(n: int) -> None:
        for _ in range(n // 2):
            clock.advance(120)
            if astral.sun.elevation(sky, clock.utcnow()) > -4.0:  # twilight or day on the sensor
                sensor.drive_high()
            else:
                sensor.drive_low()
            await fed(tracker, clock)

    async def scenario() -> None:
        sensor.drive_low()
        task = asyncio.create_task(sub.run())
        await until(lambda: tracker.last_feed is not None, what="the first feed")
        await minutes(120)  # 06:00 .. 08:00: dawn 07:01, sunrise 07:32
        assert len(kinds(store, "light.fault")) == 1
        clock.advance(8.5 * 3600)  # 16:30
        await minutes(120)  # .. 18:30: sunset 16:52, dusk 17:23
        await stop(task)

    try:
        asyncio.run(scenario())
        assert len(kinds(store, "light.fault")) == 1 and kinds(store, "light.restored") == []
        assert [a.kind for a in store.alerts(state="open")] == ["light.fault"]
    finally:
        store.close()
