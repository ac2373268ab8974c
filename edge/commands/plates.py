"""`edge plates read [--json|--text] IMAGE...`: read the plates in image files (contract: design/interfaces.md)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    plates = sub.add_parser("plates", help="licence plates")
    psub = plates.add_subparsers(dest="plates_command", metavar="ACTION", required=True)
    read = psub.add_parser("read", parents=[common], help="read the plates in image files",
                           description="Read the Chinese licence plates in photos (offline, on the CPU).")
    # The contract: one JSON line per image. --json is accepted as it writes it; --text is for people.
    read.add_argument("--json", dest="text", action="store_false", default=False,
                        help="one JSON object a line (the default)")
    read.add_argument("--text", dest="text", action="store_true", default=False,
                        help="a readable line per image instead")
    read.add_argument("images", nargs="+", metavar="IMAGE")
    read.set_defaults(func=cmd_read)


def _line(result: dict) -> str:
    if "error" in result:
        return f"{result['image']}: error: {result['error']}"
    plates = ", ".join(f"{p['text']} ({p['color']}, {p['confidence']:.2f})" for p in result["plates"])
    return f"{result['image']}: {plates or 'no plate'} [{result['ms']:.0f} ms]"


def cmd_read(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print one line per image; exit status 1 if any image could not be read."""
    from vision.errors import VisionError  # OpenCV loads only for this command
    from vision.plate_cli import read_files
    from vision.plates import PlateReader

    out = out or sys.stdout
    try:
        reader = PlateReader()
    except VisionError as e:
        print(json.dumps({"error": str(e)}) if not args.text else f"error: {e}", file=sys.stderr)
        return 1
    failed = False
    for result in read_files(args.images, reader):
        failed |= "error" in result
        print(json.dumps(result, ensure_ascii=False) if not args.text else _line(result), file=out, flush=True)
    return 1 if failed else 0
