"""edge db stats."""

from __future__ import annotations

import argparse
import json

from edge.commands import load
from edge.errors import StoreError
from edge.reader import EventReader


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("db", help="the event database")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    s = dsub.add_parser("stats", parents=[common], help="size, events by priority, unsynced, alerts",
                        description="Print what the event database holds (reads it; safe while the gateway runs).")
    s.add_argument("--json", action="store_true", help="one JSON object (sizes in bytes) instead of the table")
    s.set_defaults(func=cmd_stats)


def cmd_stats(args: argparse.Namespace) -> int:
    config = load(args)
    try:
        reader = EventReader.open(config.storage.path, device_id=config.device_id, building_id=config.building_id)
        st = reader.stats()
    except StoreError as e:
        raise SystemExit(f"edge db stats: {e}") from None
    if args.json:
        print(json.dumps(st.to_dict() | {"max_bytes": int(config.storage.max_mb * 2**20)}))
        return 0
    mb = 2**20
    print(f"database        {st.path}")
    print(f"size            {st.used_bytes / mb:.1f} MB used of {config.storage.max_mb:g} MB "
          f"({st.file_bytes / mb:.1f} MB on disk)")
    print(f"events          {st.events}  (seq {st.first_seq} .. {st.last_seq}, next {st.next_seq})")
    print("by priority     " + ", ".join(f"{k} {v}" for k, v in st.by_priority.items()))
    print(f"not yet synced  {st.unsynced}")
    print(f"open alerts     {st.open_alerts}")
    print(f"evicted (total) {st.evicted}")
    return 0
