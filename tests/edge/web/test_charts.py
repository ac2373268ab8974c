from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge.web.charts import bin_fill_by_period, occupancy_by_hour

NOW = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)  # 16:30 in Shanghai


def test_occupancy_is_the_mean_per_local_hour_with_gaps_left_empty():
    readings = [(NOW - timedelta(minutes=10), 10, 40), (NOW - timedelta(minutes=20), 30, 40),  # 16:xx: 75 %, 25 %
                (NOW - timedelta(hours=2), 0, 40),  # 14:xx: full
                (NOW - timedelta(hours=30), 0, 40), (NOW, 5, 0)]  # too old; no spaces at all
    chart = occupancy_by_hour(readings, now=NOW, tz="Asia/Shanghai")
    assert len(chart["labels"]) == len(chart["values"]) == 24
    assert chart["labels"][-1] == "16:00" and chart["labels"][0] == "17:00"
    assert chart["values"][-1] == 50.0 and chart["values"][-3] == 100.0
    assert chart["values"][-2] is None and chart["values"].count(None) == 22


def test_bin_fill_is_the_highest_level_per_period_per_bin():
    readings = [("bin-1", NOW - timedelta(hours=1), 40.0), ("bin-1", NOW - timedelta(minutes=5), 70.0),
                ("bin-2", NOW - timedelta(days=2), 90.0), ("bin-2", NOW - timedelta(days=9), 99.0)]
    chart = bin_fill_by_period(readings, now=NOW, tz="Asia/Shanghai")
    assert len(chart["labels"]) == 56 and chart["labels"][-1] == "11-23 15:00"
    assert chart["series"]["bin-1"][-1] == 70.0
    assert sum(v is not None for v in chart["series"]["bin-2"]) == 1 and 90.0 in chart["series"]["bin-2"]
