"""The kiosk and the staff console as residents and staff see them, in Debian's Chromium (Playwright) against
`edge run`: what a review of the simulated building found cut, crowded or unexplained, checked by the layout
(getBoundingClientRect), the text and the classes; no pixel comparisons."""

from __future__ import annotations

from typing import Any

from tests.edge.web.building import KIOSK, parking
from tests.edge.web.test_pages import browser, open_page  # noqa: F401 - the fixtures


def notice(i: int) -> dict[str, Any]:
    return {"kind": "kiosk.notice", "source": "api",
            "data": {"id": f"short-{i}", "zh": f"第 {i} 条：周六上午义诊。", "en": f"Notice {i}: check-ups."}}


def test_short_notices_that_fit_are_shown_together_not_one_at_a_time(make_gateway, open_page):  # noqa: F811
    gw = make_gateway(kiosk=KIOSK).start()
    assert gw.post([parking(12), *(notice(i) for i in range(1, 4))]).status_code == 201
    page = open_page(gw.url + "/", "portrait")
    page.wait_for_function("() => document.querySelectorAll('#notices li').length > 0", timeout=10_000)
    # three one-line notices take three lines of a card with room for six: all at once, no turns, no parts
    assert page.locator("#notices li").count() == 3
    assert page.locator("#notices li.parts").count() == 0 and page.inner_text("#pager") == ""
