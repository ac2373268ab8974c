from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge.web.session import check_session, make_session

TOKEN = "a-token-of-sixteen-chars"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_a_session_names_its_staff_member_until_it_expires():
    value = make_session(TOKEN, "李梅", now=NOW, ttl=timedelta(hours=12))
    assert TOKEN not in value
    assert check_session(TOKEN, value, now=NOW + timedelta(hours=11)) == "李梅"
    assert check_session(TOKEN, value, now=NOW + timedelta(hours=13)) is None


def test_forged_or_foreign_sessions_are_refused():
    value = make_session(TOKEN, "li", now=NOW, ttl=timedelta(hours=1))
    expires, name, sig = value.split(".")
    assert check_session("another-token-entirely", value, now=NOW) is None
    assert check_session(TOKEN, f"{int(expires) + 3600}.{name}.{sig}", now=NOW) is None  # a longer life
    assert check_session(TOKEN, f"{expires}.{name}.{'0' * len(sig)}", now=NOW) is None
    for junk in (None, "", "abc", "1.2", "a.b.c.d", TOKEN, "1.YQ.\u00e9", f"{expires}.{name}.{sig[:-1]}é"):
        assert check_session(TOKEN, junk, now=NOW) is None
