"""Configuration: one TOML file, validated with pydantic.

Loading is staged (read the file, parse TOML, validate) so tests can build a Config from a dict. Each component
receives only its own section. This is the one module that reads the environment.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from edge.errors import BadPlateError, ConfigError
from vision.passage import Inbound

DEFAULT_PATH = Path("/etc/edge-gateway/edge.toml")
PLACEHOLDER_SECRETS = {"", "...", "changeme", "change-me", "secret", "token", "password"}
ENV_SECRETS = (("api", "EDGE_API_TOKEN"), ("upstream", "EDGE_UPSTREAM_TOKEN"))


def bearer_secret(v: str, *, min_length: int, env: str) -> str:
    """A token as it goes into `Authorization: Bearer ...`: printable ASCII without spaces (a header cannot carry
    more, and the API strips a client's spaces, so a token with them could never match), not a placeholder."""
    if v.lower() in PLACEHOLDER_SECRETS or len(v) < min_length or not all("!" <= c <= "~" for c in v):
        least = f"at least {min_length} characters, " if min_length > 1 else ""
        raise ValueError(f"a real secret: {least}printable ASCII without spaces (or set {env})")
    return v


LaxPath = Annotated[Path, Strict(False)]  # a TOML string


def tls_unless_local(url: str) -> str:
    """The central server's URL: https, or plain http only to this machine (the token and residents' data must not
    cross the network in clear)."""
    if url.lower().startswith("http://") and (urlsplit(url).hostname or "") not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("an https:// address (http:// only for a receiver on this machine, 127.0.0.1)")
    return url


def upstream_address(url: str) -> str:
    """The central server's URL as requests will use it: a host, a port it can parse, and no user:password (requests
    would send them as Basic auth in place of the bearer token, and they would be logged with the URL)."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise ValueError("no user:password in the URL; use upstream.token")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError("a port of 1-65535 after the host, e.g. https://central.example:8443/api")
    if not parts.hostname:
        raise ValueError("a host after the scheme, e.g. https://central.example/api")
    return tls_unless_local(url)


def _shown_url(text: str) -> str:
    """A URL with its user:password hidden: messages must not carry the password."""
    parts = urlsplit(text)
    if "@" not in parts.netloc:
        return text
    return parts._replace(netloc="<user:password>@" + parts.netloc.rpartition("@")[2]).geturl()


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default."""

    # strict: TOML has real booleans and numbers, so `adapt = "yes"` or `port = "8080"` is a mistake to name, not
    # to guess at (paths and tuples are written as strings and lists in TOML and say so with Strict(False))
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StorageConfig(StrictModel):
    path: LaxPath = Path("/var/lib/edge-gateway/edge.db")
    max_mb: float = Field(512, gt=0.5, le=1_000_000)
    retention_days: float = Field(7, ge=0, le=3650)

    @field_validator("path", mode="before")
    @classmethod
    def _a_file(cls, v: object) -> object:
        # checked on the text: Path("") is Path("."), a folder, and the store's files are named after the path's
        if isinstance(v, str) and not _names_a_file(v):
            raise ValueError("the database file's path, e.g. /var/lib/edge-gateway/edge.db")
        return v


class ApiConfig(StrictModel):
    host: str = Field("127.0.0.1", description="address to listen on; 0.0.0.0 for every interface")
    port: int = Field(8080, ge=1, le=65535)
    # checked also when absent: a gateway without a token would let anyone into the staff console
    token: str = Field("", validate_default=True, description="bearer token; EDGE_API_TOKEN overrides")

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        # an empty host makes uvicorn listen on every interface: that must be asked for, not happen by a slip
        if not v or any(c.isspace() for c in v):
            raise ValueError("an address to listen on: 127.0.0.1 (this machine only), 0.0.0.0 (every interface), "
                             "or a host name or address of this machine")
        return v

    @field_validator("token")
    @classmethod
    def _real_secret(cls, v: str) -> str:
        return bearer_secret(v, min_length=16, env="EDGE_API_TOKEN")


class UpstreamConfig(StrictModel):
    url: str = Field(pattern=r"^https?://[^\s]+$")
    token: str = Field("", validate_default=True, description="bearer token; EDGE_UPSTREAM_TOKEN overrides")
    ca_bundle: LaxPath | None = None

    @field_validator("url")
    @classmethod
    def _tls_off_this_machine(cls, v: str) -> str:
        return upstream_address(v)

    @field_validator("token")
    @classmethod
    def _real_secret(cls, v: str) -> str:
        return bearer_secret(v, min_length=1, env="EDGE_UPSTREAM_TOKEN")


class SyncConfig(StrictModel):
    """[sync]: store-and-forward tuning; every key is optional (see README, "Sync")."""

    max_batch_events: int = Field(10_000, ge=10, le=100_000, description="events in one push batch, at most")
    max_batch_bytes: int = Field(4 * 2**20, ge=64 * 1024, le=64 * 2**20, description="uncompressed NDJSON bytes")
    batch_seconds: float = Field(1.0, ge=0.05, le=60, description="target time of one push; the size adapts")
    urgent_batch_events: int = Field(50, ge=1, le=1000, description="critical/high events in one batch, at most")
    linger_s: float = Field(5.0, ge=0, le=300, description="wait this long to fill a batch once caught up")
    connect_timeout_s: float = Field(5.0, gt=0, le=120)
    read_timeout_s: float = Field(20.0, gt=0, le=600)
    backoff_max_s: float = Field(60.0, ge=1, le=3600)
    urgent_backoff_max_s: float = Field(0.5, ge=0.05, le=60, description="retry cap while an SOS waits")
    degraded_after_s: float = Field(3600.0, gt=0, description="/healthz degraded when unsent events are older")
    config_every_s: float = Field(300.0, ge=5, le=86400, description="how often to fetch the downlink config")
    clock: Literal["system", "trusted"] = Field(
        "system", description="system: ask the kernel whether NTP has set the clock; trusted: an RTC keeps it")
    clock_every_s: float = Field(10.0, ge=0.1, le=3600)


class SimulateConfig(StrictModel):
    enabled: bool = False
    speed: float = Field(1.0, gt=0, le=1000, description="simulated seconds per real second")
    seed: int = 7
    parking: bool = Field(True, description="a drawn car-park camera when there is no [parking] section")
    gate: bool = Field(True, description="the demo clip plays the gate camera when there is no [gate] section")


class WristbandConfig(StrictModel):
    """One resident's band. `resident` is for the operator reading this file; it never goes into events."""

    band: str = Field(pattern=r"^([0-9a-f]{8}|[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5})$",
                      description="band id (8 hex digits, on its label) or its Bluetooth address")
    flat: str = Field(pattern=r"^[\w.-]+$", max_length=20)  # not {1,20}: see the source field of edge/api/events.py
    resident: str | None = None
    hr_min: int = Field(45, ge=20, le=120)
    hr_max: int = Field(120, ge=60, le=230)
    connect: bool = Field(False, description="also connect for GATT heart rate / blood pressure")

    @model_validator(mode="after")
    def _range(self) -> WristbandConfig:
        if self.hr_min >= self.hr_max:
            _fail_all([("hr_min", self.hr_min, f"less than hr_max ({self.hr_max}): heart rates between them are "
                        "normal")])
        return self


class BleConfig(StrictModel):
    """[ble]: the wristband subsystem (see README, "BLE wristbands")."""

    enabled: bool = False
    adapter: str | None = Field(None, pattern=r"^hci\d{1,2}$")
    passive: bool = True
    watchdog_s: float = Field(120, ge=5, le=3600)
    wristband_company_ids: list[int] = Field([0xFFFF], min_length=1)
    bthome_keys: dict[str, str] = Field({}, description="address -> 32 hex digits")
    heart_rate_every_s: float = Field(300, ge=1, le=86400)
    seen_every_s: float = Field(900, ge=1, le=86400)
    heart_rate_sustained_s: float = Field(120, ge=0, le=3600)
    battery_low_pct: int = Field(20, ge=1, le=99)
    missing_after_hours: float = Field(12, gt=0, le=24 * 14)
    max_connections: int = Field(3, ge=1, le=10)
    simulated_bands: int = Field(6, ge=0, le=1000)
    wristbands: list[WristbandConfig] = []

    @field_validator("wristband_company_ids")
    @classmethod
    def _company_ids(cls, v: list[int]) -> list[int]:
        if any(not 0 <= c <= 0xFFFF for c in v):
            raise ValueError("Bluetooth SIG company ids, 0..65535")
        return v

    @field_validator("bthome_keys")
    @classmethod
    def _keys(cls, v: dict[str, str]) -> dict[str, str]:
        for address, key in v.items():
            if len(key) != 32 or any(c not in "0123456789abcdefABCDEF" for c in key):
                raise ValueError(f"bind key of {address}: 32 hex digits (16 bytes)")
        return v

    @field_validator("wristbands")
    @classmethod
    def _unique(cls, v: list[WristbandConfig]) -> list[WristbandConfig]:
        seen: set[str] = set()
        for w in v:
            key = w.band.lower()
            if key in seen:
                raise ValueError(f"band {w.band} is listed twice")
            seen.add(key)
        return v


class SiteConfig(StrictModel):
    """Where the building is: for sunrise and sunset (lights) and the kiosk's clock."""

    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("an IANA time zone such as Asia/Shanghai") from None
        return v


Arrow = Literal["ahead", "ahead-right", "right", "back-right", "back", "back-left", "left", "ahead-left"]


class PlaceLabel(StrictModel):
    """How an id (parking zone, entrance, bin, light) reads on the kiosk, and the way to it from the lobby."""

    zh: str = Field(min_length=1, max_length=40)
    en: str | None = Field(None, max_length=60)
    arrow: Arrow | None = None


class NoticeConfig(StrictModel):
    zh: str = Field(min_length=1, max_length=200)
    en: str | None = Field(None, max_length=300)
    until: Annotated[date, Strict(False)] | None = Field(None, description="last day shown (site's time zone)")


class PhoneConfig(StrictModel):
    zh: str = Field(min_length=1, max_length=12)
    en: str = Field(min_length=1, max_length=24)
    number: str = Field(pattern=r"^[0-9][0-9 -]{1,19}$")


DEFAULT_PHONES = (PhoneConfig(zh="报警", en="Police", number="110"),
                  PhoneConfig(zh="火警", en="Fire", number="119"),
                  PhoneConfig(zh="急救", en="Ambulance", number="120"))


class KioskConfig(StrictModel):
    """[kiosk]: the lobby page and the staff console (see README, "Kiosk and staff console")."""

    title: str | None = Field(None, max_length=40, description="default: the building id")
    title_en: str | None = Field(None, max_length=60)
    nearly_full_pct: float = Field(80, ge=10, le=100)
    show_gate: bool = Field(True, description="greet the last resident car at the gate, plate masked")
    places: dict[str, PlaceLabel] = {}
    notices: list[NoticeConfig] = Field([], max_length=20)
    phones: list[PhoneConfig] = Field(list(DEFAULT_PHONES), max_length=6)
    unseen_hours: float = Field(2, gt=0, le=24 * 14, description="staff: wristbands not heard this long")
    session_hours: float = Field(12, gt=0, le=24 * 30, description="staff console login lasts this long")


# ---- [gpio]: bins, lights, buttons, outputs (see README, "Bins, lights and buttons") ---------------------------

Pin = Annotated[int, Field(ge=0, le=27, description="BCM GPIO number (GPIO17 is 17)")]
DeviceName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$", description="the event source")]
TimeOfDay = Annotated[str, Field(pattern=r"^(sunset|sunrise|([01]\d|2[0-3]):[0-5]\d)$")]


class BinConfig(StrictModel):
    """A trash bin with an HC-SR04 ultrasonic sensor in its lid, looking down."""

    name: DeviceName
    trigger_pin: Pin
    echo_pin: Pin
    empty_depth_m: float = Field(gt=0.05, le=4.0, description="sensor to the bottom of the empty bin")
    full_distance_m: float = Field(0.10, ge=0.02, le=4.0, description="sensor to the rubbish when 100 % full")
    full_pct: float = Field(80, gt=0, le=100)
    emptied_pct: float = Field(30, ge=0, lt=100, description="below this a full bin counts as emptied")
    full_after_s: float = Field(60, ge=0, le=86400, description="how long the level must stay >= full_pct")
    emptied_after_s: float = Field(60, ge=0, le=86400)
    interval_s: float = Field(300, ge=1, le=86400, description="bin.level every this often")
    fault_after_s: float = Field(180, ge=1, le=86400, description="no valid echo this long: bin.sensor_fault")

    @model_validator(mode="after")
    def _geometry(self) -> BinConfig:
        problems = []
        if self.full_distance_m >= self.empty_depth_m:
            problems.append(("full_distance_m", self.full_distance_m,
                             f"less than empty_depth_m ({self.empty_depth_m:g})"))
        if self.emptied_pct >= self.full_pct:
            problems.append(("emptied_pct", self.emptied_pct, f"less than full_pct ({self.full_pct:g})"))
        _fail_all(problems)
        return self


class LightConfig(StrictModel):
    """A lamp watched by an LDR with a capacitor (gpiozero LightSensor) or a digital light module."""

    name: DeviceName
    pin: Pin
    sensor: Literal["ldr", "digital"] = "ldr"
    light_when: Literal["high", "low"] = Field("high", description="digital module: pin level when it sees light")
    threshold: float = Field(0.1, gt=0, lt=1, description="ldr: value (0 dark .. 1 bright) above which it is lit")
    charge_time_limit_s: float = Field(0.01, gt=0, le=1, description="ldr: longer to charge than this is dark")
    lit_from: TimeOfDay = Field("sunset", description="sunset, sunrise or HH:MM local time ([site] timezone)")
    lit_until: TimeOfDay = "sunrise"
    debounce_s: float = Field(5, ge=0, le=3600)
    fault_after_s: float = Field(120, ge=0, le=86400, description="dark in lit hours this long: light.fault")


class ButtonConfig(StrictModel):
    """A push button between the pin and ground (or 3V3 with pull_up = false)."""

    name: DeviceName
    pin: Pin
    emergency: bool = Field(False, description="presses are critical events (alarm)")
    pull_up: bool = True
    debounce_s: float = Field(0.05, ge=0, le=5)
    long_press_s: float = Field(2.0, gt=0, le=60)


class OutputConfig(StrictModel):
    """An alert lamp or buzzer (follows open critical alerts) or a relay (pulsed on request, e.g. the gate)."""

    name: DeviceName
    pin: Pin
    role: Literal["alert", "relay"]
    active_high: bool = True
    blink_s: float = Field(0, ge=0, le=10, description="alert: blink with this half-period; 0 is steady")


class GpioConfig(StrictModel):
    factory: Literal["auto", "lgpio", "mock"] = Field(
        "auto", description="auto: mock when [simulate] is enabled, else lgpio")
    chip: int | None = Field(None, ge=0, le=16, description="gpiochip number; default: the Pi's own")
    poll_s: float = Field(0.5, ge=0.05, le=60, description="how often bins and lights are looked at")
    bins: list[BinConfig] = []
    lights: list[LightConfig] = []
    buttons: list[ButtonConfig] = []
    outputs: list[OutputConfig] = []

    @model_validator(mode="after")
    def _claims(self) -> GpioConfig:
        """A pin or a name used twice is an error naming both places."""
        pins: dict[int, str] = {}
        names: dict[str, str] = {}
        problems: list[tuple[str, Any, str]] = []
        for key, name, field, pin in self.claims():
            if pin in pins:
                problems.append((f"{key}.{field}", pin,
                                 f"a pin no other device uses (GPIO{pin} is already {pins[pin]})"))
            else:
                pins[pin] = f"gpio.{key}.{field}"
            if names.setdefault(name, f"gpio.{key}") != f"gpio.{key}":
                if (f"{key}.name", name) not in [p[:2] for p in problems]:  # a bin has two pins, one name
                    problems.append((f"{key}.name", name, f"a name no other device has ({names[name]} is {name!r})"))
        _fail_all(problems)
        return self

    def claims(self) -> list[tuple[str, str, str, int]]:
        """(key, device name, pin field, pin) for every pin the configuration claims."""
        out: list[tuple[str, str, str, int]] = []
        for i, b in enumerate(self.bins):
            out += [(f"bins.{i}", b.name, "trigger_pin", b.trigger_pin), (f"bins.{i}", b.name, "echo_pin", b.echo_pin)]
        for section in ("lights", "buttons", "outputs"):
            out += [(f"{section}.{i}", d.name, "pin", d.pin) for i, d in enumerate(getattr(self, section))]
        return out


def _fail_all(problems: list[tuple[str, Any, str]]) -> None:
    """Raise one validation error for all (key, found, allowed) problems of a cross-field check, if any: each is a
    line of its own, as field errors are. `key` is dotted, relative to the model."""
    if problems:
        raise ValidationError.from_exception_data("config", [InitErrorDetails(
            type=PydanticCustomError("value_error", allowed), loc=tuple(int(p) if p.isdigit() else p
                                                                         for p in key.split(".")), input=found)
            for key, found, allowed in problems])


# ---- [gate]: the car-park gate's cameras, the residents' plates, the barrier (see README, "Car-park gate") -----

Direction = Literal["entry", "exit", "unknown"]


class GateCameraConfig(StrictModel):
    """A camera watching the lane before the barrier."""

    name: DeviceName = Field("gate", description="the source of its events")
    source: str = Field(min_length=1, description="device number or /dev/videoN, rtsp:// or http:// URL, a video "
                        "file or an image sequence such as frames/%04d.jpg")
    loop: bool = Field(False, description="video files: from the start again at the end (simulation)")
    fps: float | None = Field(None, gt=0, le=60, description="video files: play at this rate (default: their own)")
    roi: Annotated[tuple[float, float, float, float], Strict(False)] = Field(
        (0.0, 0.0, 1.0, 1.0), description="the lane before the barrier: x, y, width, height as fractions of the frame")
    inbound: Inbound = Field("down", description="how an entering car's plate moves in the picture: up, down, "
                             "left, right, closer (grows) or farther (shrinks)")
    relay: DeviceName | None = Field(None, description="the barrier this lane opens (default: gate.relay)")

    @field_validator("relay", mode="before")
    @classmethod
    def _none(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("roi")
    @classmethod
    def _inside(cls, v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x, y, w, h = v
        if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 and 0 < h <= 1 and x + w <= 1.0001 and y + h <= 1.0001):
            raise ValueError("[x, y, width, height], fractions of the frame (0-1) that stay inside it")
        return v


class GateConfig(StrictModel):
    cameras: list[GateCameraConfig] = Field(min_length=1, max_length=4)
    residents: list[str] = Field([], description="plates that open the gate (more are pushed over the API)")
    min_confidence: float = Field(0.9, gt=0, le=1, description="a read less sure than this never opens the gate")
    visitor_confidence: float = Field(0.6, ge=0, le=1, description="a car not on the whitelist is a plate.visitor "
                                      "when read at least this sure (below: only its plate.read)")
    relay: DeviceName | None = Field("gate", description="the [gpio] relay output that opens the barrier; "
                                     "empty: record only")
    pulse_s: float = Field(1.0, gt=0, le=60, description="how long the relay is closed")
    open_on: list[Direction] = Field(["entry", "exit", "unknown"], description="directions a resident is let through")
    check_fps: float = Field(5, gt=0, le=30, description="frames looked at per second (the newest each time)")
    motion: bool = Field(True, description="read plates only while something moves in the roi")
    motion_share: float = Field(0.01, gt=0, lt=1, description="share of the roi that must change to be motion")
    motion_hold_s: float = Field(3, ge=0, le=60, description="keep reading this long after the last motion")
    min_reads: int = Field(2, ge=1, le=50, description="reads of a plate that make a car (fewer: noise)")
    settle_s: float = Field(2, gt=0, le=60, description="decide a car standing this long even if not sure")
    end_after_s: float = Field(2, gt=0, le=60, description="a car not read for this long has gone")
    same_plate_s: float = Field(15, ge=0, le=3600, description="the same plate again this soon is the same car")

    @field_validator("relay", mode="before")
    @classmethod
    def _none(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("residents")
    @classmethod
    def _plates(cls, v: list[str]) -> list[str]:
        from edge.whitelist import check_plates

        try:
            return check_plates(v, "residents")
        except BadPlateError as e:
            raise ValueError(str(e)) from None

    @model_validator(mode="after")
    def _unique(self) -> GateConfig:
        _unique_camera_names(self.cameras, "gate")
        return self


def _unique_camera_names(cameras: list[GateCameraConfig] | list[ParkingCameraConfig], section: str) -> None:
    """A camera's name is the source of its events: two cameras of a section may not share one."""
    seen: set[str] = set()
    problems: list[tuple[str, Any, str]] = []
    for i, camera in enumerate(cameras):
        if camera.name in seen:
            problems.append((f"cameras.{i}.name", camera.name, f"a name no other {section} camera has"))
        seen.add(camera.name)
    _fail_all(problems)


# ---- [parking]: car-park cameras, their space maps, smoothing and guidance (see README, "Parking") --------------

class ParkingCameraConfig(StrictModel):
    """A fixed camera over the car park and its space map (SPACES.json, drawn on the calibration page)."""

    name: DeviceName = Field("carpark", description="the source of its events")
    source: str = Field(min_length=1, description="device number or /dev/videoN, rtsp:// or http:// URL, a video "
                        "file or an image sequence such as frames/%04d.jpg")
    spaces: LaxPath = Field(description="the space map (SPACES.json); may not exist yet: draw it at /staff/parking")
    loop: bool = Field(False, description="video files: from the start again at the end (simulation)")
    fps: float | None = Field(None, gt=0, le=60, description="video files: play at this rate (default: their own)")


class ParkingConfig(StrictModel):
    cameras: list[ParkingCameraConfig] = Field(min_length=1, max_length=8)
    check_s: float = Field(2.0, ge=0.1, le=600, description="classify the newest frame this often")
    frames: int = Field(3, ge=1, le=100, description="consistent frames before a space changes state")
    min_confidence: float = Field(0.6, ge=0.5, lt=1, description="a less sure frame neither confirms nor breaks a "
                                  "change")
    summary_s: float = Field(60, ge=5, le=3600, description="parking.summary every this often (and soon after a "
                             "change)")
    adapt: bool = Field(True, description="learn each camera's occupied/free cut from its own frames "
                        "(vision/threshold.py)")

    @model_validator(mode="after")
    def _unique(self) -> ParkingConfig:
        _unique_camera_names(self.cameras, "parking")
        return self


class LogConfig(StrictModel):
    level: Literal["debug", "info", "warning", "error"] = "info"


class Config(StrictModel):
    device_id: str = Field(pattern=r"^[a-z0-9-]{3,40}$")
    building_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")
    storage: StorageConfig = StorageConfig()
    api: ApiConfig
    upstream: UpstreamConfig | None = None
    sync: SyncConfig = SyncConfig()
    site: SiteConfig = SiteConfig()
    simulate: SimulateConfig = SimulateConfig()
    kiosk: KioskConfig = KioskConfig()
    ble: BleConfig = BleConfig()
    gpio: GpioConfig | None = None
    gate: GateConfig | None = None
    parking: ParkingConfig | None = None
    log: LogConfig = LogConfig()

    @model_validator(mode="after")
    def _sun_needs_site(self) -> Config:
        if self.site.latitude is not None and self.site.longitude is not None:
            return self
        problems: list[tuple[str, Any, str]] = []
        for i, light in enumerate(self.gpio.lights if self.gpio else ()):
            # one line a light: setting [site] mends both of its times
            field = next((f for f in ("lit_from", "lit_until") if getattr(light, f) in ("sunset", "sunrise")), None)
            if field:
                problems.append((f"gpio.lights.{i}.{field}", getattr(light, field),
                                 "HH:MM, or set [site] latitude and longitude"))
        _fail_all(problems)
        return self

    @model_validator(mode="after")
    def _gate_relays(self) -> Config:
        """Each gate relay is a relay output in [gpio] (in simulation without [gpio]: the demo building's)."""
        if self.gate is None or (self.gpio is None and self.simulate.enabled):
            return self
        relays = {o.name for o in self.gpio.outputs if o.role == "relay"} if self.gpio else set()
        named = [("gate.relay", self.gate.relay)] + [(f"gate.cameras.{i}.relay", c.relay)
                                                      for i, c in enumerate(self.gate.cameras)]
        allowed = f"a relay in [gpio] outputs ({', '.join(sorted(relays)) or 'there is none'}), or leave gate.relay " \
                  "empty to only record"
        _fail_all([(key, relay, allowed) for key, relay in named if relay and relay not in relays])
        return self


@dataclass(frozen=True)
class RuntimeEnv:
    """What the process learns from its environment besides the config file."""

    config_path: Path
    notify_socket: str | None
    watchdog_usec: int | None


def runtime_env(cli_path: str | None = None, environ: Mapping[str, str] = os.environ) -> RuntimeEnv:
    """--config PATH, else $EDGE_CONFIG, else /etc/edge-gateway/edge.toml; plus systemd's notify settings."""
    path = Path(cli_path or environ.get("EDGE_CONFIG") or DEFAULT_PATH)
    wd = environ.get("WATCHDOG_USEC")
    return RuntimeEnv(path, environ.get("NOTIFY_SOCKET") or None, int(wd) if wd and wd.isdigit() else None)


def load_config(path: Path, environ: Mapping[str, str] = os.environ) -> Config:
    """Read, parse and validate the file; ConfigError lists every problem, one line each."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found (give --config PATH or set EDGE_CONFIG)"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"{path}: cannot read: {e}"]) from None
    raw = parse_toml(text, str(path))
    files = file_problems(raw, str(path))
    try:
        config = parse_config(raw, str(path), environ)
    except ConfigError as e:
        raise ConfigError(e.problems + files) from None
    if files:
        raise ConfigError(files)
    return config


def file_problems(raw: Mapping[str, Any], source: str) -> list[str]:
    """The files the configuration names, looked at as the gateway will use them. Apart from the models, which do
    no I/O; on the raw document, so that these problems are listed with the others."""
    out = []
    storage, upstream = raw.get("storage"), raw.get("upstream")
    path = storage.get("path") if isinstance(storage, dict) else None
    if isinstance(path, str) and _names_a_file(path) and _is_dir(path):
        out.append(f"{source}: key storage.path: found {toml_value(path)}, a folder; allowed: the database file's "
                   f"path, e.g. {path.rstrip('/')}/edge.db")
    ca = upstream.get("ca_bundle") if isinstance(upstream, dict) else None
    if isinstance(ca, str):
        problem = _ca_problem(ca)
        if problem:
            out.append(f"{source}: key upstream.ca_bundle: found {toml_value(ca)} ({problem}); allowed: a readable "
                       "file of CA certificates (PEM)")
    return out


def _is_dir(path: str) -> bool:
    """Path.is_dir, but a folder closed to this account (config check run without sudo) cannot tell: not a problem
    of the file (Path.is_dir raises PermissionError there)."""
    try:
        return Path(path).is_dir()
    except OSError:
        return False


def _names_a_file(path: str) -> bool:
    return Path(path).name not in ("", "..")  # "" and "." are Path("."); "/" has no name


def _ca_problem(path: str) -> str | None:
    """Why requests could not verify with this CA bundle, if it could not (loaded as it will load it)."""
    import ssl

    if not path:
        return "empty"
    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError:  # an OSError too: first
        return "no PEM certificate in it"
    except OSError as e:  # missing, a folder, not readable
        return e.strerror or str(e)
    return None


def parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{source}: not valid TOML: {e}"]) from None


def parse_config(raw: dict[str, Any], source: str, environ: Mapping[str, str] = os.environ) -> Config:
    """Validate a parsed document; secrets from EDGE_API_TOKEN and EDGE_UPSTREAM_TOKEN override the file."""
    raw, from_env = _with_env_secrets(raw, environ)
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError([_describe(source, err, from_env) for err in e.errors()]) from None


def _with_env_secrets(raw: dict[str, Any], environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The document with the environment's secrets put in, and which keys they took (key -> variable)."""
    raw, from_env = dict(raw), {}
    for section, var in ENV_SECRETS:
        secret = environ.get(var)
        if secret and isinstance(raw.get(section, {}), dict):
            if section == "upstream" and section not in raw:
                continue  # a token without a server means nothing
            raw[section] = {**raw.get(section, {}), "token": secret}
            from_env[f"{section}.token"] = var
    return raw, from_env


def _describe(source: str, err: Mapping[str, Any], from_env: Mapping[str, str] | None = None) -> str:
    """One line: file, key, what was found, what is allowed. A value the environment gave is blamed on its
    variable, not on the file's key that it overrides."""
    loc = [str(p) for p in err["loc"] if not str(p).startswith("function-")]
    key = ".".join(loc) or "(top level)"
    var = (from_env or {}).get(key)
    if var:
        msg = err["msg"].removeprefix("Value error, ").replace(f" (or set {var})", "")
        return f"environment variable {var} (it overrides {source}: key {key}): found <the token>; allowed: {msg}"
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(loc[:-1])) or "none"
        return f"{source}: key {key}: unknown key; allowed here: {allowed}"
    if err["type"] == "missing":
        return f"{source}: key {key}: missing; it is required"
    found = err.get("input")
    if isinstance(found, str) and "://" in found:
        found = _shown_url(found)
    if isinstance(found, str) and "token" in key and found.strip() and len(found) >= 4:
        shown = "<the token>"  # as edge/provision.py says it
    else:
        shown = toml_value(found)
    msg = err["msg"].removeprefix("Value error, ")
    return f"{source}: key {key}: found {shown}; allowed: {msg}"


def toml_value(value: Any) -> str:
    """A value as it is written in the TOML file (true, "text", [1, 2]), not as Python prints it (True, 'text')."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string is a JSON string
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _allowed_keys(loc: list[str]) -> list[str]:
    model: Any = Config
    a_key = False  # the next part is a key of a table of tables, e.g. the "A" of kiosk.places.A
    for part in loc:
        if part.isdigit() or a_key:  # or an item of a list of tables, e.g. gpio.bins.0
            a_key = False
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model, a_key = _model_of(field.annotation), _is_dict(field.annotation)
    return sorted(getattr(model, "model_fields", {}))


def _is_dict(annotation: Any) -> bool:
    if getattr(annotation, "__origin__", None) is dict:
        return True
    return any(_is_dict(arg) for arg in getattr(annotation, "__args__", ()))


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
