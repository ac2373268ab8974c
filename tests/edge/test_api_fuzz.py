"""Whatever JSON a client sends to POST /api/v1/events, the parser answers with events or a 4xx, never an
unexpected exception (a 500): hypothesis draws event-like objects with every field of any JSON type, including
times at the ends of the calendar."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.api.events import _parse
from edge.errors import EventError

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                    st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                                          inner, max_size=3),
                      max_leaves=8)
times = st.one_of(st.none(), st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
                  st.sampled_from(["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-12-03T08:00:00Z",
                                   "2026-12-03T08:00:00", "yesterday", ""]), values)
events = st.fixed_dictionaries(
    {"kind": st.one_of(st.sampled_from(["bin.level", "wristband.sos", "Bad Kind"]), values),
     "source": st.one_of(st.sampled_from(["bin-1", "band-0a1b"]), values)},
    optional={"data": st.one_of(st.dictionaries(st.text(max_size=8), values, max_size=4), values),
              "priority": st.one_of(st.sampled_from(["critical", "high", "normal", "low", "urgent"]), values),
              "ts": times, "extra": values})


@given(st.one_of(events, st.lists(events, max_size=4), values))
@settings(max_examples=300, deadline=None)
def test_any_body_gives_events_or_a_4xx(body: Any) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode()
    try:
        parsed = _parse(raw)
    except HTTPException as e:
        assert 400 <= e.status_code < 500
        return
    for event in parsed:  # what the parser let through is checked by the store before anything is written
        try:
            event.checked_data_json()
        except EventError:
            pass
        assert event.ts is None or 2000 <= event.ts.year < 2100


@given(st.fixed_dictionaries({"zh": st.one_of(st.text(max_size=5), values)},
                             optional={"id": values, "en": values, "until": times}))
@settings(max_examples=200, deadline=None)
def test_any_notice_is_taken_or_refused_with_a_reason(body: dict[str, Any]) -> None:
    from pydantic import ValidationError

    from edge.api.kiosk import NoticeIn

    try:
        notice = NoticeIn.model_validate_json(json.dumps(body))
    except ValidationError:
        return
    assert notice.until is None or 2000 <= notice.until.year < 2100
