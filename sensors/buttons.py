"""Call buttons: pure decisions, pin edges + time -> `button.pressed` events.

An edge counts once the pin has held its new level for `debounce_s` (contact bounce is ignored). A press is
reported when it is known what it was: at release for a short press, or as soon as it has been held for
`long_press_s` for a long one (without waiting for the release). Emergency buttons' presses are critical.
"""

from __future__ import annotations

from edge.config import ButtonConfig
from edge.events import NewEvent, Priority


class ButtonTracker:
    """One button's debounced state. Call edge() on each pin change and tick() by deadline()."""

    def __init__(self, cfg: ButtonConfig, now: float) -> None:
        self.cfg = cfg
        self.pressed = False  # debounced
        self._raw = False
        self._raw_since = now
        self._pressed_at = now
        self._long_sent = False

    def edge(self, pressed: bool, now: float) -> list[NewEvent]:
        """The pin changed (pressed or released) at `now`."""
        # settle the level that ends here first: it may have held for debounce_s since the last tick, and
        # recording the new level before that would lose a press released between two ticks
        events = self.tick(now)
        if pressed != self._raw:
            self._raw, self._raw_since = pressed, now
        return events + self.tick(now)

    def tick(self, now: float) -> list[NewEvent]:
        events: list[NewEvent] = []
        if self._raw != self.pressed and now - self._raw_since >= self.cfg.debounce_s:
            self.pressed = self._raw
            if self.pressed:
                self._pressed_at, self._long_sent = self._raw_since, False
            elif not self._long_sent:
                events.append(self._event(long=False, held_s=self._raw_since - self._pressed_at))
        if self.pressed and not self._long_sent and now - self._pressed_at >= self.cfg.long_press_s:
            self._long_sent = True
            events.append(self._event(long=True, held_s=now - self._pressed_at))
        return events

    def deadline(self) -> float | None:
        """When tick() must next run to settle a bounce or recognise a long press; None when nothing is pending."""
        if self._raw != self.pressed:
            return self._raw_since + self.cfg.debounce_s
        if self.pressed and not self._long_sent:
            return self._pressed_at + self.cfg.long_press_s
        return None

    def _event(self, *, long: bool, held_s: float) -> NewEvent:
        cfg = self.cfg
        return NewEvent("button.pressed", cfg.name, {
            "button": cfg.name, "long": long, "held_s": round(held_s, 2), "emergency": cfg.emergency,
        }, Priority.CRITICAL if cfg.emergency else Priority.NORMAL)
