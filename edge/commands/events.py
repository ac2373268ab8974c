"""edge events tail: follow new events, for installers on site."""

from __future__ import annotations

import argparse
import time

from edge.commands import int_in, load
from edge.errors import StoreError
from edge.events import KIND_RE
from edge.reader import MAX_SEQ, EventReader


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("events", help="look at stored events")
    esub = p.add_subparsers(dest="events_command", metavar="ACTION", required=True)
    t = esub.add_parser("tail", parents=[common], help="print the newest events and follow new ones",
                        description="Print the last N events, then follow new ones as the gateway stores them "
                        "(reads the database; works while `edge run` is running).")
    t.add_argument("-n", "--lines", type=int_in(0, MAX_SEQ), default=20,
                   help="how many recent events to print first (default: %(default)s)")
    t.add_argument("--kind", type=_kind, help="only this kind, e.g. wristband.sos")
    t.add_argument("--after", type=int_in(0, MAX_SEQ), help="start after this seq instead of the last N")
    t.add_argument("--no-follow", dest="follow", action="store_false", help="print and exit")
    t.add_argument("--json", action="store_true", help="one JSON object a line (default: a readable line)")
    t.add_argument("--interval", type=float, default=0.5, help=argparse.SUPPRESS)
    t.set_defaults(func=cmd_tail)


def _kind(text: str) -> str:
    if not KIND_RE.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an event kind like 'bin.level'")
    return text


def cmd_tail(args: argparse.Namespace) -> int:
    config = load(args)
    try:
        reader = EventReader.open(config.storage.path, device_id=config.device_id, building_id=config.building_id)
        _follow(reader, args)
    except StoreError as e:  # also a damaged file met while following
        raise SystemExit(f"edge events tail: {e}") from None
    return 0


def _follow(reader: EventReader, args: argparse.Namespace) -> None:
    after = args.after if args.after is not None else _start(reader, args.lines, args.kind)
    while True:
        rows = reader.event_rows(after=after, kind=args.kind, limit=1000)
        for row in rows:
            print(reader.event_json(row) if args.json else _line(row), flush=True)
            after = row[0]
        if not args.follow and len(rows) < 1000:
            return
        if not rows:
            time.sleep(args.interval)


def _start(reader: EventReader, lines: int, kind: str | None) -> int:
    sql, params = "SELECT seq FROM events", []
    if kind:
        sql, params = sql + " WHERE kind = ?", [kind]
    found = reader.query(sql + " ORDER BY seq DESC LIMIT 1 OFFSET ?", [*params, max(0, lines)])
    return found[0][0] if found else 0


def _line(row: tuple) -> str:
    from edge.events import Priority

    seq, ts, kind, source, prio, data = row
    return f"{seq:>8} {ts} {Priority.from_rank(prio).value:<8} {kind:<24} {source:<16} {data}"
