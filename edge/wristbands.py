"""Wristband rules: readings in, events out. Pure: time is passed in (monotonic seconds), nothing is stored here.

Events carry the band id and the flat, never the resident's name. Kinds (fields documented in the README):
wristband.sos and wristband.fall (critical), wristband.heart_rate (normal, rate-limited),
wristband.heart_rate_alert (high) and wristband.heart_rate_normal, wristband.battery_low (high) and
wristband.battery_ok, wristband.seen (normal, rate-limited) and wristband.missing (high). The alert table
(edge/alerts.py) closes an alert with its pair; an SOS or a fall is closed by staff acknowledging it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from edge.config import BleConfig, WristbandConfig
from edge.events import NewEvent, Priority
from sensors.wristband import WristbandState

BATTERY_HYSTERESIS = 5  # percent above the threshold before a low battery counts as fixed
# alerts the rules remember as raised, taken up again from the store at start (WristbandRules.restore)
RESTORED = ("wristband.battery_low", "wristband.heart_rate_alert", "wristband.missing")


@dataclass(frozen=True, slots=True)
class Band:
    band_id: str
    flat: str | None  # None: a band nobody registered (only its SOS becomes an event)
    hr_min: int = 45
    hr_max: int = 120

    @property
    def source(self) -> str:
        return f"band-{self.band_id}"


@dataclass(frozen=True, slots=True)
class Settings:
    heart_rate_every_s: float = 300
    seen_every_s: float = 900
    heart_rate_sustained_s: float = 120
    battery_low_pct: int = 20
    missing_after_s: float = 12 * 3600

    @classmethod
    def from_config(cls, c: BleConfig) -> Settings:
        return cls(c.heart_rate_every_s, c.seen_every_s, c.heart_rate_sustained_s, c.battery_low_pct,
                   c.missing_after_hours * 3600)


@dataclass(slots=True)
class BandState:
    """What the rules remember about one band between advertisements."""

    last_seen: float
    seen_emitted: float | None = None
    hr_emitted: float | None = None
    sos_counter: int | None = None  # counter of the last incident alerted
    sos_cleared: bool = False  # SOS flag seen clear since that alert
    fall: bool = False  # fall flag set at the last advertisement (that incident is raised)
    hr_out_since: float | None = None
    hr_in_since: float | None = None  # back in range since, while alerting
    hr_alerting: bool = False
    battery_low: bool = False
    missing: bool = False


class Registry:
    """Which band belongs to which flat, by band id or by address; unknown bands are only counted."""

    def __init__(self, entries: Iterable[WristbandConfig] = ()) -> None:
        self._by_key: dict[str, Band] = {}
        self.unknown: set[str] = set()
        self.unknown_limit = 10_000  # a busy street must not grow this without bound
        self.replace(entries)

    def replace(self, entries: Iterable[WristbandConfig]) -> None:
        """Keys are lower case: band ids are, and addresses compare without case."""
        self._by_key = {e.band.lower(): Band(e.band.lower(), e.flat, e.hr_min, e.hr_max) for e in entries}

    def bands(self) -> list[Band]:
        return list(self._by_key.values())

    def lookup(self, band_id: str, address: str) -> Band | None:
        band = self._by_key.get(band_id) or self._by_key.get(address.lower())
        if band is None and len(self.unknown) < self.unknown_limit:
            self.unknown.add(band_id)
        return band


def _event(kind: str, band: Band, priority: Priority = Priority.NORMAL, **data: object) -> NewEvent:
    return NewEvent(kind, band.source, {"band": band.band_id, "flat": band.flat, **data}, priority)


def _alarm(kind: str, reading: WristbandState, band: Band, rssi: int, **data: object) -> NewEvent:
    return _event(kind, band, Priority.CRITICAL, **data, rssi=rssi, battery_pct=reading.battery_pct,
                  heart_rate_bpm=reading.heart_rate_bpm)


def _sos(reading: WristbandState, band: Band, st: BandState, rssi: int) -> list[NewEvent]:
    if not reading.sos:
        if st.sos_counter is not None:
            st.sos_cleared = True
        return []
    if st.sos_counter == reading.sos_counter and not st.sos_cleared:
        return []  # the same incident: repeated presses and repeated advertisements
    st.sos_counter, st.sos_cleared = reading.sos_counter, False
    return [_alarm("wristband.sos", reading, band, rssi, sos_counter=reading.sos_counter)]


def _fall(reading: WristbandState, band: Band, st: BandState, rssi: int) -> list[NewEvent]:
    """A fall has no counter: the flag going from clear to set is a new incident, its repeats are not. Independent
    of SOS: a fall with an SOS pressed too raises both."""
    was, st.fall = st.fall, reading.fall
    return [_alarm("wristband.fall", reading, band, rssi)] if reading.fall and not was else []


def _heart_rate(reading: WristbandState, band: Band, st: BandState, now: float, s: Settings) -> list[NewEvent]:
    bpm = reading.heart_rate_bpm
    out: list[NewEvent] = []
    if bpm is None:  # not worn or no reading: a spell out of (or back in) range needs readings to go on
        st.hr_out_since = st.hr_in_since = None
        return out
    if st.hr_emitted is None or now - st.hr_emitted >= s.heart_rate_every_s:
        st.hr_emitted = now
        out.append(_event("wristband.heart_rate", band, bpm=bpm))
    if band.hr_min <= bpm <= band.hr_max:
        st.hr_out_since = None
        if st.hr_alerting:
            # closed only once back in range as long as it took to raise: one reading in range amid a rate that
            # stays out (a noisy optical sensor) would close the alert and open a new one minutes later
            st.hr_in_since = now if st.hr_in_since is None else st.hr_in_since
            if now - st.hr_in_since >= s.heart_rate_sustained_s:
                st.hr_alerting, st.hr_in_since = False, None
                out.append(_event("wristband.heart_rate_normal", band, bpm=bpm))
        return out
    st.hr_in_since = None
    if st.hr_out_since is None:
        st.hr_out_since = now
    if not st.hr_alerting and now - st.hr_out_since >= s.heart_rate_sustained_s:
        st.hr_alerting = True
        out.append(_event("wristband.heart_rate_alert", band, Priority.HIGH, bpm=bpm, hr_min=band.hr_min,
                          hr_max=band.hr_max, for_s=round(now - st.hr_out_since)))
    return out


def _battery(reading: WristbandState, band: Band, st: BandState, s: Settings) -> list[NewEvent]:
    pct = reading.battery_pct
    if pct is None:
        return []
    if not st.battery_low and pct < s.battery_low_pct:
        st.battery_low = True
        return [_event("wristband.battery_low", band, Priority.HIGH, battery_pct=pct)]
    if st.battery_low and pct >= s.battery_low_pct + BATTERY_HYSTERESIS:
        st.battery_low = False
        return [_event("wristband.battery_ok", band, battery_pct=pct)]
    return []


@dataclass
class WristbandRules:
    """The per-band state and the two entry points: an advertisement, and the periodic missing check."""

    settings: Settings
    started: float  # monotonic time the rules started: a band never seen is missing from here on
    states: dict[str, BandState] = field(default_factory=dict)
    watching: set[str] | None = None  # the bands registered at the last missing check; None before the first

    def heart_rate(self, band: Band, bpm: int, now: float) -> list[NewEvent]:
        """A heart rate read over GATT (bands that need a connection)."""
        st = self.states.setdefault(band.band_id, BandState(last_seen=now))
        st.last_seen = now
        reading = WristbandState(band.band_id, False, 0, 0, None, bpm, True, False, False)
        return _heart_rate(reading, band, st, now, self.settings)

    def evaluate(self, reading: WristbandState, band: Band, now: float, rssi: int) -> list[NewEvent]:
        st = self.states.get(band.band_id)
        first = st is None
        if st is None:
            st = self.states[band.band_id] = BandState(last_seen=now)
        st.last_seen = now
        events = _sos(reading, band, st, rssi) + _fall(reading, band, st, rssi)  # first: nothing may delay them
        if first or st.missing or st.seen_emitted is None or now - st.seen_emitted >= self.settings.seen_every_s:
            st.seen_emitted, st.missing = now, False
            events.append(_event("wristband.seen", band, rssi=rssi, battery_pct=reading.battery_pct))
        events += _heart_rate(reading, band, st, now, self.settings)
        events += _battery(reading, band, st, self.settings)
        return events

    def unregistered(self, reading: WristbandState, now: float, rssi: int) -> list[NewEvent]:
        """An SOS or a fall from a band nobody registered is still one: raised with the band id and no flat, so
        staff can find whose it is. Nothing else of an unknown band becomes an event. Give it every advertisement
        of the band, not only those with a flag set: a new incident is told by the flag clearing in between, as for
        a registered band. Only bands that have called are remembered (a busy street passes many)."""
        st = self.states.get(reading.band_id)
        if st is None:
            if not (reading.sos or reading.fall):
                return []
            st = self.states[reading.band_id] = BandState(last_seen=now)
        st.last_seen = now
        band = Band(reading.band_id, None)
        return _sos(reading, band, st, rssi) + _fall(reading, band, st, rssi)

    def restore(self, raised: Iterable[tuple[str, str]]) -> None:
        """Take up the alerts raised before a restart: (kind, source) of each one the store holds unresolved (open
        or acknowledged). Starting empty, a battery charged or a band back during the downtime never closed its
        alert, and a condition still there was raised again."""
        for kind, source in raised:
            if kind not in RESTORED or not source.startswith("band-"):
                continue
            st = self.states.setdefault(source.removeprefix("band-"), BandState(last_seen=self.started))
            st.battery_low |= kind == "wristband.battery_low"
            st.hr_alerting |= kind == "wristband.heart_rate_alert"
            st.missing |= kind == "wristband.missing"

    def check_missing(self, bands: Iterable[Band], now: float) -> list[NewEvent]:
        """wristband.missing once per absence for every registered band silent for missing_after_s."""
        events, first, watching = [], self.watching is None, set()
        for band in bands:
            watching.add(band.band_id)
            # a band is listened for from the start, or from when it was registered (pushed settings), not
            # for the gateway's whole uptime: a band added later was otherwise missing at the next check
            since = self.started if first else now
            st = self.states.get(band.band_id)
            if st is None:
                st = self.states[band.band_id] = BandState(last_seen=since)
            elif not first and band.band_id not in self.watching:  # registered again (e.g. a new resident)
                st.last_seen = max(st.last_seen, since)
            silent = now - st.last_seen
            if not st.missing and silent >= self.settings.missing_after_s:
                st.missing = True
                events.append(_event("wristband.missing", band, Priority.HIGH,
                                     silent_hours=round(silent / 3600, 2)))
        self.watching = watching
        return events
