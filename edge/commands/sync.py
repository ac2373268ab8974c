"""edge sync status, edge sync pull."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.clock import Clock
from edge.commands import int_in, load
from edge.errors import StoreError
from edge.reader import MAX_SEQ, EventReader
from sync.status import Snapshot, age_text, snapshot


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sync", help="store-and-forward sync to the central server")
    ssub = p.add_subparsers(dest="sync_command", metavar="ACTION", required=True)
    s = ssub.add_parser("status", parents=[common], help="backlog, oldest unsent event, last success and error, "
                        "rejected batches", description="Print sync's state from the database (safe while the "
                        "gateway runs; works when it does not).")
    s.add_argument("--json", action="store_true", help="one JSON object instead of the lines")
    s.set_defaults(func=cmd_status)

    p = ssub.add_parser("pull", help="the reference pull client: fetch batches, write them durably, acknowledge",
                        description="Fetch events from a gateway's pull API, write them durably (one NDJSON file "
                        "per page in --out, or standard output), and only then acknowledge them. Needs no config.")
    p.add_argument("--from", dest="url", required=True, metavar="URL", help="the gateway, e.g. http://10.0.7.2:8080")
    token = p.add_mutually_exclusive_group(required=True)
    token.add_argument("--token", help="the gateway's api.token")
    token.add_argument("--token-file", type=Path, help="a file holding the token (keeps it out of `ps`)")
    p.add_argument("--out", type=Path, help="folder for <device>-<first>-<last>.ndjson files (default: stdout)")
    p.add_argument("--after", type=int_in(0, MAX_SEQ),
                   help="start after this seq (default: after the last acknowledgement)")
    p.add_argument("--limit", type=int, default=5000, help="events per page (1-10000)")
    p.add_argument("--follow", action="store_true", help="keep pulling new events until interrupted")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between polls with --follow")
    p.add_argument("--ca-bundle", type=Path, help="CA certificate(s) for a gateway behind TLS with a private CA")
    p.set_defaults(func=cmd_pull)


def cmd_status(args: argparse.Namespace) -> int:
    config = load(args)
    try:
        reader = EventReader.open(config.storage.path, device_id=config.device_id, building_id=config.building_id)
        s = snapshot(reader, Clock().utcnow(), trusted_clock=config.sync.clock == "trusted")
    except StoreError as e:
        raise SystemExit(f"edge sync status: {e}") from None
    mode = f"push to {config.upstream.url}" if config.upstream else "pull-only (no [upstream])"
    if args.json:
        print(json.dumps({"mode": mode} | s.to_dict(), ensure_ascii=False))
        return 0
    for line in status_lines(mode, s):
        print(line)
    return 0


def status_lines(mode: str, s: Snapshot) -> list[str]:
    lines = [
        f"mode            {mode}",
        f"backlog         {s.backlog} events unacknowledged ({s.urgent_backlog} critical/high)",
        f"oldest unsent   {age_text(s.oldest_unsent_age_s)} ago (seq {s.oldest_unsent_seq}, {s.oldest_unsent_ts})"
        if s.oldest_unsent_seq is not None else "oldest unsent   -",
        f"last success    {s.last_success_ts or 'never'}",
        f"last error      {s.last_error_ts}: {s.last_error}" if s.last_error else "last error      none",
        f"pull            acknowledged through seq {s.pull_through}" + (f" at {s.pull_ts}" if s.pull_ts else ""),
        "clock           " + {True: f"synchronised (found at {s.clock_synced_ts})" if s.clock_synced_ts
                              else 'trusted (clock = "trusted": a real-time clock)',
                              False: "not synchronised yet: new events are flagged",
                              None: "unknown"}[s.clock_synchronised],
    ]
    lines += [f"in flight       {p['key']} ({p['lane']}, {p['events']} events, since {p['since']})" for p in s.pending]
    lines.append(f"rejected        {s.rejected_batches} batches, {s.rejected_events} events (kept)")
    lines += [f"  {r['ts']}  {r['key']}  {r['events']} events  {r['reason']}" for r in s.rejected]
    return lines


def cmd_pull(args: argparse.Namespace) -> int:
    from sync.client import PullClient
    from sync.errors import PullError
    from sync.pull import MAX_PULL_LIMIT, file_writer, pull_loop, stream_writer

    if not 1 <= args.limit <= MAX_PULL_LIMIT:  # checked here: sync.pull's imports (requests) wait until it runs
        print(f"edge sync pull: error: argument --limit: {args.limit} is not in 1..{MAX_PULL_LIMIT}", file=sys.stderr)
        return 2
    try:
        token = args.token or args.token_file.read_text().strip()
    except OSError as e:
        raise SystemExit(f"edge sync pull: --token-file: {e}") from None
    client = PullClient(args.url, token, ca_bundle=args.ca_bundle)
    write = file_writer(args.out) if args.out else stream_writer()
    try:
        n = pull_loop(client, write, after=args.after, limit=args.limit, follow=args.follow,
                      interval=args.interval)
    except BrokenPipeError:
        raise  # `edge sync pull | head`: the reader left; what it did not take was not acknowledged
    except (PullError, OSError) as e:
        raise SystemExit(f"edge sync pull: {e}") from None
    finally:
        client.close()
    print(f"edge sync pull: {n} events written and acknowledged", file=sys.stderr)
    return 0
