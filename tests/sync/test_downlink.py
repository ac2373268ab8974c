"""The downlink config: fetched with ETag, validated, applied without a restart, kept on disk, reported."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from sync.client import UpstreamClient
from sync.downlink import Applier, Downlink, check
from sync.errors import DownlinkError
from tests.sync.central import TOKEN, Central

THRESHOLDS = TypeAdapter(dict[str, float])


class Thresholds:
    """A subsystem that takes the `thresholds` section."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.pushed_at: datetime | None = None

    def applier(self) -> Applier:
        return Applier(validate=THRESHOLDS.validate_python, apply=self.apply)

    def apply(self, values: dict[str, float], pushed_at: datetime | None) -> dict[str, Any]:
        self.values, self.pushed_at = values, pushed_at
        return {"keys": sorted(values)}


def downlink(store, central: Central, tmp_path, subsystem: Thresholds) -> Downlink:
    client = UpstreamClient(central.url, TOKEN, "t-gw1", connect_timeout=1, read_timeout=2)
    return Downlink(client, {"thresholds": subsystem.applier()}, tmp_path / "downlink.json", emit=store.emit,
                    clock=store._clock, every=60)


def reports(store, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in store.events(kind=kind, limit=100)]


def test_fetch_validate_apply_keep_and_report(store, central: Central, tmp_path):
    central.config_doc = {"thresholds": {"bin_full_pct": 80}, "plate_whitelist": ["京A12345"]}
    sub = Thresholds()
    dl = downlink(store, central, tmp_path, sub)
    asyncio.run(dl.fetch())
    assert sub.values == {"bin_full_pct": 80.0}
    [applied] = reports(store, "gateway.config_applied")
    assert applied == {"etag": '"v1"', "source": "upstream", "applied": {"thresholds": {"keys": ["bin_full_pct"]}},
                       "failed": {}, "ignored": ["plate_whitelist"]}
    saved = json.loads((tmp_path / "downlink.json").read_text())
    assert saved["etag"] == '"v1"' and saved["config"] == central.config_doc

    asyncio.run(dl.fetch())  # unchanged: 304, nothing applied again
    assert central.config_requests == [None, '"v1"'] and len(reports(store, "gateway.config_applied")) == 1

    central.config_doc, central.config_etag = {"thresholds": {"bin_full_pct": "very"}}, '"v2"'
    asyncio.run(dl.fetch())
    asyncio.run(dl.fetch())  # the same bad version again: reported once
    [rejected] = reports(store, "gateway.config_rejected")
    assert rejected["etag"] == '"v2"' and "section thresholds" in rejected["reason"]
    assert sub.values == {"bin_full_pct": 80.0}  # the last good settings stay in force
    assert json.loads((tmp_path / "downlink.json").read_text())["etag"] == '"v1"'
    [alert] = store.alerts()
    assert alert.kind == "gateway.config_rejected"


def test_the_last_good_copy_applies_at_start_while_upstream_is_away(store, central: Central, tmp_path):
    central.config_doc = {"thresholds": {"hr_max": 120}}
    first = Thresholds()
    asyncio.run(downlink(store, central, tmp_path, first).fetch())
    assert first.pushed_at == store._clock.utcnow()  # received now
    central.stop()
    store._clock.advance(3600)
    sub = Thresholds()  # a restarted gateway
    dl = downlink(store, central, tmp_path, sub)
    asyncio.run(dl.load_copy())
    asyncio.run(dl.fetch())
    assert sub.values == {"hr_max": 120.0} and dl.status.etag == '"v1"'
    assert sub.pushed_at == first.pushed_at  # the copy's values are as old as when they came, not the restart
    assert "Connection" in (dl.status.last_error or "")
    assert [r["source"] for r in reports(store, "gateway.config_applied")] == ["upstream", "disk"]


def test_bad_documents_change_nothing(store, central: Central, tmp_path):
    sub = Thresholds()
    dl = downlink(store, central, tmp_path, sub)
    central.config_doc = b"not json"
    asyncio.run(dl.fetch())
    assert "not JSON" in dl.status.last_error and not reports(store, "gateway.config_rejected")
    central.config_doc, central.config_etag = b"[1, 2]", '"v2"'
    asyncio.run(dl.fetch())
    [rejected] = reports(store, "gateway.config_rejected")
    assert "JSON object" in rejected["reason"]
    assert sub.values == {} and not (tmp_path / "downlink.json").exists()


def test_check_lists_every_problem():
    appliers = {"a": Applier(THRESHOLDS.validate_python, dict), "b": Applier(THRESHOLDS.validate_python, dict)}
    try:
        check({"a": {"x": "no"}, "b": [1]}, appliers)
    except DownlinkError as e:
        assert "section a" in str(e) and "section b" in str(e)
    else:
        raise AssertionError("a bad document passed")
    assert check({"a": {"x": 1}, "c": 3}, appliers).ignored == ["c"]


def test_a_redirect_is_not_followed(store, central: Central, tmp_path):
    elsewhere = Central(config_doc={"thresholds": {"bin_full_pct": 1}}, config_etag='"evil"').start()
    try:
        central.config_redirect = elsewhere.url.replace("https:", "http:") + "/v1/gateways/t-gw1/config"
        sub = Thresholds()
        dl = downlink(store, central, tmp_path, sub)
        asyncio.run(dl.fetch())
        assert elsewhere.config_requests == [] and sub.values == {}
        assert not (tmp_path / "downlink.json").exists() and not reports(store, "gateway.config_applied")
        assert "302" in dl.status.last_error
    finally:
        elsewhere.stop()
