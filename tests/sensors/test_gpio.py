"""The gpiozero adapters on MockFactory: distances from echo times, dead sensors, LDR and digital lights,
buttons, outputs and their safe state, pins claimed twice, the pin factory choice and the pin report."""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime

import pytest
from gpiozero.pins.mock import MockChargingPin, MockPin, MockTriggerPin

from edge.clock import FakeClock, ScaledClock
from edge.config import SiteConfig
from sensors.bins import BinTracker, level_pct
from sensors.errors import GpioError, PinClaimError, UnknownDeviceError
from sensors.gpio import factory_kind, make_pin_factory, pin_report
from sensors.gpio_sim import DayScript, MockBuilding, demo_config, echo_time
from tests.sensors.conftest import gpio, wait_until

BIN = {"name": "bin-1", "trigger_pin": 23, "echo_pin": 24, "empty_depth_m": 2.0, "full_distance_m": 0.2,
       "fault_after_s": 60}


def sensor_pins(pins, distance: float) -> MockTriggerPin:
    echo = pins.pin(24)
    return pins.pin(23, pin_class=MockTriggerPin, echo_pin=echo, echo_time=echo_time(distance))


def fresh_readings(sensor, n: int) -> list:
    """The next n raw readings after the ones already taken (one in flight may still be the old echo)."""
    sensor.drain()
    got: list = []
    wait_until(lambda: got.extend(sensor.drain()) or len(got) >= n + 2, what=f"{n} readings")
    return got[2:]


def test_fill_percentage_from_echo_times(pins, open_devices):
    cfg = gpio(bins=[BIN])
    trigger = sensor_pins(pins, 1.9)
    sensor = open_devices(cfg).bins["bin-1"]
    for pct in (5, 50, 90):
        distance = 2.0 - pct / 100 * 1.8
        trigger.echo_time = echo_time(distance)
        readings = fresh_readings(sensor, 9)
        tracker = BinTracker(cfg.bins[0], 0.0)
        [ev] = tracker.feed(readings, 0.0)
        # the mock's echo is timed with sleep(), which only ever oversleeps: a centimetre or two too far when idle,
        # more on a busy machine; the median keeps it to a few
        assert statistics.median(readings) == pytest.approx(distance + 0.02, abs=0.08)
        assert ev.kind == "bin.level" and ev.data["level_pct"] == pytest.approx(pct - 1, abs=5)


def test_sensor_that_stops_answering_gives_missed_echoes_and_a_fault(pins, open_devices):
    cfg = gpio(bins=[BIN])
    trigger = sensor_pins(pins, 1.0)
    sensor = open_devices(cfg).bins["bin-1"]
    tracker = BinTracker(cfg.bins[0], 0.0)
    assert [e.kind for e in tracker.feed(fresh_readings(sensor, 3), 0.0)] == ["bin.level"]
    trigger.echo_pin = MockPin(pins, trigger.echo_pin.info)  # the echo wire comes loose
    readings = fresh_readings(sensor, 3)
    assert readings == [None, None, None] and sensor.last is None
    assert tracker.feed(readings, 30.0) == []
    [fault] = tracker.feed(fresh_readings(sensor, 1), 61.0)
    assert fault.kind == "bin.sensor_fault" and fault.data["reason"] == "no_echo"


def test_a_sensor_never_wired_reads_no_echo(pins, open_devices):
    sensor = open_devices(gpio(bins=[BIN])).bins["bin-1"]  # plain mock pins: the trigger makes no echo
    assert fresh_readings(sensor, 2) == [None, None]


def test_ldr_light_sensor_by_charge_time(pins, open_devices):
    ldr = pins.pin(5, pin_class=MockChargingPin, charge_time=0.0005)
    light = open_devices(gpio(lights=[{"name": "corridor-1", "pin": 5, "lit_from": "18:00"}])).lights["corridor-1"]
    wait_until(light.is_lit, what="lit")
    ldr.charge_time = 1.0  # the lamp is out: the capacitor charges too slowly
    wait_until(lambda: not light.is_lit(), what="dark")
    [row] = light.report()
    assert row.pin == 5 and row.role == "ldr" and row.reading.startswith("dark") and row.value == 0.0


@pytest.mark.parametrize("light_when", ["low", "high"])
def test_digital_light_module(pins, open_devices, light_when):
    cfg = gpio(lights=[{"name": "street-1", "pin": 6, "sensor": "digital", "light_when": light_when,
                        "lit_from": "18:00"}])
    light = open_devices(cfg).lights["street-1"]
    pin = pins.pin(6)
    (pin.drive_low if light_when == "low" else pin.drive_high)()
    assert light.is_lit()
    (pin.drive_high if light_when == "low" else pin.drive_low)()
    assert not light.is_lit()
    assert light.report()[0].reading.startswith("dark")


@pytest.mark.parametrize("pull_up", [True, False])
def test_button_edges(pins, open_devices, pull_up):
    button = open_devices(gpio(buttons=[{"name": "lobby-sos", "pin": 17, "pull_up": pull_up}])).buttons["lobby-sos"]
    seen: list[bool] = []
    button.on_change(seen.append)
    pin = pins.pin(17)
    press, release = (pin.drive_low, pin.drive_high) if pull_up else (pin.drive_high, pin.drive_low)
    press()
    assert button.report()[0].reading.startswith("pressed")
    release()
    press()
    release()
    assert seen == [True, False, True, False]


def test_alert_output_steady_and_blinking(pins, open_devices):
    devices = open_devices(gpio(outputs=[{"name": "lamp", "pin": 22, "role": "alert"},
                                         {"name": "buzzer", "pin": 16, "role": "alert", "blink_s": 0.02}]))
    lamp, buzzer = devices.outputs["lamp"], devices.outputs["buzzer"]
    lamp.set(True)
    buzzer.set(True)
    assert pins.pin(22).state is True
    wait_until(lambda: len(pins.pin(16).states) >= 5, what="the buzzer to blink")
    lamp.set(False)
    buzzer.set(False)
    assert pins.pin(22).state is False and pins.pin(16).state is False


def test_relay_pulse_and_unknown_relay(pins, open_devices):
    devices = open_devices(gpio(outputs=[{"name": "gate", "pin": 26, "role": "relay"},
                                         {"name": "lamp", "pin": 22, "role": "alert"}]))
    relay, pin = devices.relay("gate"), pins.pin(26)
    pin.clear_states()
    relay.pulse(0.1)
    wait_until(lambda: [s.state for s in pin.states] == [False, True, False], what="on, then off again")
    assert pin.states[2].timestamp == pytest.approx(0.1, abs=0.08)
    with pytest.raises(UnknownDeviceError, match="no relay named 'lamp'.*relays: gate"):
        devices.relay("lamp")


@pytest.mark.parametrize("active_high", [True, False])
def test_close_leaves_outputs_off(pins, open_devices, active_high):
    devices = open_devices(gpio(outputs=[{"name": "gate", "pin": 26, "role": "relay", "active_high": active_high},
                                         {"name": "lamp", "pin": 22, "role": "alert", "active_high": active_high}]))
    devices.relay("gate").set(True)
    devices.outputs["lamp"].set(True)
    assert pins.pin(26).state is active_high
    devices.close()
    for n in (26, 22):
        assert pins.pin(n).states[-1].state is (not active_high)  # the last level driven: off
    devices.close()  # twice is fine


def test_pin_claimed_twice_names_the_key_and_releases_the_rest(pins, open_devices):
    open_devices(gpio(buttons=[{"name": "lobby-sos", "pin": 17}]))
    clash = gpio(outputs=[{"name": "lamp", "pin": 22, "role": "alert"}], buttons=[{"name": "other", "pin": 17}])
    with pytest.raises(PinClaimError) as e:
        open_devices(clash)
    assert e.value.key == "gpio.buttons.0.pin" and "GPIO17" in str(e.value) and "in use" in str(e.value)
    open_devices(gpio(outputs=[{"name": "lamp", "pin": 22, "role": "alert"}]))  # 22 was released


def test_pin_report_lists_every_configured_pin(pins, open_devices):
    sensor_pins(pins, 1.1)  # 50 %
    pins.pin(5, pin_class=MockChargingPin, charge_time=0.0005)
    devices = open_devices(gpio(
        bins=[BIN], lights=[{"name": "corridor-1", "pin": 5, "lit_from": "18:00"}],
        buttons=[{"name": "lobby-sos", "pin": 17, "emergency": True}],
        outputs=[{"name": "gate", "pin": 26, "role": "relay"}]))
    wait_until(lambda: devices.lights["corridor-1"].is_lit(), what="lit")
    rows = pin_report(devices, wait_s=2.0)
    assert [(r.pin, r.device, r.role) for r in rows] == [
        (5, "corridor-1", "ldr"), (17, "lobby-sos", "emergency"), (23, "bin-1", "trigger"), (24, "bin-1", "echo"),
        (26, "gate", "relay")]
    echo = rows[3]
    assert isinstance(echo.value, float)
    assert level_pct(echo.value, devices.bins["bin-1"].cfg) == pytest.approx(50, abs=5)
    assert "m (ok, level" in echo.reading
    assert rows[0].reading.startswith("lit") and rows[1].reading == "released (pin high)" and rows[4].reading == "off"
    assert rows[1].to_dict() == {"pin": 17, "device": "lobby-sos", "kind": "button", "role": "emergency",
                                 "reading": "released (pin high)", "value": False}


def test_factory_choice():
    cfg = gpio()
    assert factory_kind(cfg, simulate=True) == "mock"
    assert factory_kind(cfg, simulate=False) == "lgpio"
    assert factory_kind(gpio(factory="mock"), simulate=False) == "mock"
    assert factory_kind(gpio(factory="lgpio"), simulate=True) == "mock"
    assert type(make_pin_factory("mock")).__name__ == "MockFactory"


def test_lgpio_missing_says_to_install_the_pi_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lgpio", None)  # import lgpio raises ImportError
    monkeypatch.delitem(sys.modules, "gpiozero.pins.lgpio", raising=False)
    with pytest.raises(GpioError, match=r"gpio.factory: lgpio is not installed.*edge-gateway\[pi\]"):
        make_pin_factory("lgpio")


def test_missing_gpio_chip_is_a_clear_error():
    pytest.importorskip("lgpio", reason="lgpio (the `pi` extra, also in the `test` extra) is not installed")
    with pytest.raises(GpioError, match=r"gpio.chip: cannot open /dev/gpiochip15"):
        make_pin_factory("lgpio", chip=15)


def test_set_during_a_pulse_takes_effect_at_once_and_ends_the_pulse(pins, open_devices):
    devices = open_devices(gpio(outputs=[{"name": "gate", "pin": 26, "role": "relay"}]))
    relay, pin = devices.relay("gate"), pins.pin(26)
    relay.pulse(5.0)
    wait_until(lambda: pin.state is True, what="the pulse to close the relay")
    relay.set(False)  # e.g. an operator stops the barrier
    assert pin.state is False and relay.active is False
    relay.pulse(0.2)
    wait_until(lambda: pin.state is True, what="the second pulse")
    relay.set(True)  # held closed: the pulse's end must not open it
    time.sleep(0.4)
    assert pin.state is True and relay.active is True


def test_a_pulse_on_a_held_relay_leaves_it_held(pins, open_devices):
    devices = open_devices(gpio(outputs=[{"name": "gate", "pin": 26, "role": "relay"}]))
    relay, pin = devices.relay("gate"), pins.pin(26)
    relay.set(True)  # staff hold the barrier open
    pin.clear_states()
    relay.pulse(0.1)  # a resident's plate: the pulse's end must not close the barrier
    time.sleep(0.4)
    assert [s.state for s in pin.states] == [True] and relay.active is True
    relay.set(False)  # the hold ends when staff end it
    assert pin.state is False


def test_a_simulated_bin_sensor_unplugged_mid_echo_leaves_its_echo_pin_low(pins):
    """The simulated building unplugs bin-2's sensor (its echo wire) while an echo pulse is high: the pulse's end then
    goes to the loose wire, and the sensor's own echo pin must not stay high, or the sensor reads nothing once it
    is plugged in again (in a demo bin-2 never sent bin.sensor_ok)."""
    site = SiteConfig()
    start = datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    cfg = demo_config(site)
    building = MockBuilding(cfg, pins, DayScript(cfg, site, start), ScaledClock(10.0, start=start, base=FakeClock()))
    building.prepare()
    trigger, echo = pins.pin(25), pins.pin(12)  # bin-2
    trigger.function = "output"
    trigger.echo_time = 0.5  # a long pulse: it is still high when the wire comes loose
    trigger.state = True
    wait_until(lambda: echo.state, what="the echo pulse")
    building.apply(building.script.at(500.0))  # bin-2's sensor unplugged
    trigger.state = False
    trigger.state = True  # a new pulse waits for the one in flight to end (on the loose wire)
    assert echo.state is False
