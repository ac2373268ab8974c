"""ButtonTracker: debounced presses, short vs long, emergency buttons critical (pure: edges + time)."""

import pytest

from edge.config import ButtonConfig
from edge.events import Priority
from sensors.buttons import ButtonTracker

SOS = ButtonConfig(name="lobby-sos", pin=17, emergency=True, debounce_s=0.05, long_press_s=2.0)
CALL = ButtonConfig(name="lift-call", pin=27, debounce_s=0.05, long_press_s=2.0)


def play(tracker: ButtonTracker, edges: list[tuple[float, bool]], until: float) -> list:
    """Feed the edges and tick every 10 ms (as the subsystem does while something is pending)."""
    out, t, edges = [], 0.0, list(edges)
    while t <= until + 1e-9:
        while edges and edges[0][0] <= t:
            at, pressed = edges.pop(0)
            out += tracker.edge(pressed, at)
        out += tracker.tick(t)
        t = round(t + 0.01, 2)
    return out


def test_short_press_reported_at_release():
    events = play(ButtonTracker(CALL, 0.0), [(1.0, True), (1.5, False)], until=3.0)
    [ev] = events
    assert ev.kind == "button.pressed" and ev.source == "lift-call" and ev.priority is Priority.NORMAL
    assert ev.data == {"button": "lift-call", "long": False, "held_s": 0.5, "emergency": False}


def test_long_press_reported_while_still_held_and_not_again_at_release():
    tracker = ButtonTracker(CALL, 0.0)
    events = play(tracker, [(1.0, True)], until=3.1)
    [ev] = events
    assert ev.data["long"] is True and ev.data["held_s"] == pytest.approx(2.0, abs=0.02)
    assert play(tracker, [(3.5, False)], until=5.0) == []


def test_emergency_button_is_critical():
    [ev] = play(ButtonTracker(SOS, 0.0), [(1.0, True), (1.3, False)], until=2.0)
    assert ev.priority is Priority.CRITICAL and ev.data["emergency"] is True


def test_contact_bounce_is_one_press():
    bouncy = [(1.0, True), (1.005, False), (1.01, True), (1.02, False), (1.03, True),  # pressing
              (1.8, False), (1.81, True), (1.815, False), (1.83, True), (1.84, False)]  # releasing
    events = play(ButtonTracker(CALL, 0.0), bouncy, until=3.0)
    assert len(events) == 1 and events[0].data["long"] is False
    assert events[0].data["held_s"] == pytest.approx(0.81, abs=0.02)


def test_a_glitch_shorter_than_debounce_is_no_press():
    assert play(ButtonTracker(SOS, 0.0), [(1.0, True), (1.02, False)], until=2.0) == []


def test_deadline_says_when_to_look_again():
    tracker = ButtonTracker(CALL, 0.0)
    assert tracker.deadline() is None
    tracker.edge(True, 1.0)
    assert tracker.deadline() == pytest.approx(1.05)
    tracker.tick(1.06)
    assert tracker.pressed and tracker.deadline() == pytest.approx(3.0)
    tracker.tick(3.0)
    assert tracker.deadline() is None


def test_repeated_presses_each_count():
    edges = [(1.0 + i, True) for i in range(5)]
    edges = sorted(edges + [(1.2 + i, False) for i in range(5)])
    assert len(play(ButtonTracker(SOS, 0.0), edges, until=7.0)) == 5


def test_a_press_released_before_the_next_tick_is_not_lost():
    """edge() alone, no tick in between: the press held 300 ms (far over debounce_s) must count."""
    tracker = ButtonTracker(SOS, 0.0)
    assert tracker.edge(True, 1.0) == []
    assert tracker.edge(False, 1.3) == []  # the press settles here; its release is still bouncing
    [ev] = tracker.tick(2.0)
    assert ev.data == {"button": "lobby-sos", "long": False, "held_s": 0.3, "emergency": True}
    assert ev.priority is Priority.CRITICAL


def test_a_long_press_released_between_ticks_is_reported_once_as_long():
    tracker = ButtonTracker(CALL, 0.0)
    tracker.edge(True, 1.0)
    [ev] = tracker.edge(False, 3.5)
    assert ev.data["long"] is True and ev.data["held_s"] == 2.5
    assert tracker.tick(4.0) == []


def test_a_bounce_shorter_than_debounce_is_still_ignored():
    tracker = ButtonTracker(CALL, 0.0)
    assert tracker.edge(True, 1.0) + tracker.edge(False, 1.02) + tracker.tick(2.0) == []
