"""`edge parking detect --spaces SPACES.json [--json|--text] IMAGE...` (contract: design/interfaces.md) and
`edge parking import-pklot XML > SPACES.json`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parking = sub.add_parser("parking", help="parking-space occupancy")
    psub = parking.add_subparsers(dest="parking_command", metavar="ACTION", required=True)
    detect = psub.add_parser("detect", parents=[common], help="which spaces are occupied in image files",
                             description="Classify every space of a space map in photos from its camera. The "
                                         "camera's occupied/free cut is learnt from all the photos given (as the "
                                         "gateway learns it from its camera), once they show 120 spaces in both "
                                         "states.")
    detect.add_argument("--spaces", required=True, metavar="SPACES.json", help="the camera's space map")
    # The contract: one JSON line per image. --json is accepted as it writes it; --text is for people.
    detect.add_argument("--json", dest="text", action="store_false", default=False,
                        help="one JSON object a line (the default)")
    detect.add_argument("--text", dest="text", action="store_true", default=False,
                        help="a readable line per image instead")
    detect.add_argument("--no-adapt", dest="adapt", action="store_false",
                        help="keep the network's own cut (each photo answered alone)")
    detect.add_argument("images", nargs="+", metavar="IMAGE")
    detect.set_defaults(func=cmd_detect)
    imp = psub.add_parser("import-pklot", parents=[common], help="a space map from a PKLot XML annotation",
                          description="Print a SPACES.json made from a PKLot-format XML file (<space> with a "
                                      "4-point <contour>).")
    imp.add_argument("xml", metavar="XML")
    imp.add_argument("--zone", default="A", help="the zone of every space (default: A)")
    imp.set_defaults(func=cmd_import)


def _line(result: dict) -> str:
    if "error" in result:
        return f"{result['image']}: error: {result['error']}"
    taken = " ".join(s["id"] for s in result["spaces"] if s["occupied"]) or "-"
    return (f"{result['image']}: {result['free']} of {len(result['spaces'])} free; occupied: {taken} "
            f"[{result['ms']:.0f} ms]")


def _fail(args: argparse.Namespace, message: str) -> int:
    as_json = not getattr(args, "text", True)  # detect writes JSON unless --text; import-pklot writes a map
    print(json.dumps({"error": message}, ensure_ascii=False) if as_json else f"error: {message}", file=sys.stderr)
    return 1


def cmd_detect(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print one line per image; exit status 1 if any image could not be read."""
    from vision.errors import VisionError  # OpenCV loads only for this command
    from vision.occupancy import OccupancyClassifier
    from vision.parking_cli import detect_files
    from vision.spaces import load_space_map

    out = out or sys.stdout
    try:
        spaces = load_space_map(args.spaces)
        classifier = OccupancyClassifier()
    except VisionError as e:
        return _fail(args, str(e))
    failed = False
    for result in detect_files(args.images, spaces, classifier, adapt=args.adapt):
        failed |= "error" in result
        print(json.dumps(result, ensure_ascii=False) if not args.text else _line(result), file=out, flush=True)
    return 1 if failed else 0


def cmd_import(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from vision.spaces import SpaceMapError, dumps, from_pklot_xml

    try:
        space_map = from_pklot_xml(args.xml, zone=args.zone)
    except SpaceMapError as e:
        return _fail(args, str(e))
    print(dumps(space_map), end="", file=out or sys.stdout)
    return 0
