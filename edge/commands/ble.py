"""edge ble decode | scan: the wristband decoders from the command line (contract: "BLE command line")."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import traceback
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from edge.commands import load
from sensors.ble import BleScanner, ScannerState, or_patterns
from sensors.decode import BleDecoder, normalize_uuid
from sensors.errors import DecodeError
from sensors.readings import Advertisement, DecodeResult


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("ble", help="decode or scan BLE advertisements (wristbands, beacons, BTHome)")
    bsub = p.add_subparsers(dest="ble_command", metavar="ACTION", required=True)
    d = bsub.add_parser("decode", parents=[common], help="decode JSON lines of advertisements or GATT values",
                        description='Read JSON lines on standard input: advertisements {"address", "rssi", '
                        '"name"?, "manufacturer_data"?: {"<company id, decimal>": "<hex>"}, "service_data"?: '
                        '{"<uuid>": "<hex>"}, "service_uuids"?: [...]} or GATT values {"address", '
                        '"characteristic", "value": "<hex>"}; print {"readings": [...]} or {"error": "..."} '
                        "for each (a blank line, a line that is not UTF-8 and a line over 64 KiB get an error "
                        "line too). With --config, BTHome bind keys and wristband company ids come from [ble]. "
                        "Exit status 1 when a line gave an error.")
    d.set_defaults(func=cmd_decode)
    s = bsub.add_parser("scan", parents=[common], help="scan on the real adapter and print what is decoded",
                        description="Scan with BlueZ (passive where supported) and print one JSON line per "
                        "advertisement that decodes to something (all of them with --all).")
    s.add_argument("--seconds", type=float, default=0, help="stop after this long (default: until Ctrl-C)")
    s.add_argument("--all", action="store_true", help="also print advertisements nothing decodes")
    s.add_argument("--active", action="store_true", help="active scanning even where passive works")
    s.add_argument("--adapter", help="e.g. hci1 (default: the first powered adapter)")
    s.set_defaults(func=cmd_scan)


def _decoder(args: argparse.Namespace) -> BleDecoder:
    if getattr(args, "config", None) is None:
        return BleDecoder()
    ble = load(args).ble
    return BleDecoder(bthome_keys={a: bytes.fromhex(k) for a, k in ble.bthome_keys.items()},
                      wristband_company_ids=ble.wristband_company_ids)


def _hex(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise DecodeError(f"{where}: expected a hex string, got {type(value).__name__}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise DecodeError(f"{where}: not hex: {value!r}") from None


def _object(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DecodeError(f"{key} must be an object, got {type(value).__name__}")
    return value


def _service_uuids(doc: dict[str, Any]) -> tuple[str, ...]:
    value = doc.get("service_uuids")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise DecodeError(f"service_uuids must be a list of strings, got {type(value).__name__}")
    return tuple(value)


def _advertisement(doc: dict[str, Any]) -> Advertisement:
    try:
        mfr = {int(k): _hex(v, f"manufacturer_data[{k}]") for k, v in _object(doc, "manufacturer_data").items()}
    except ValueError as e:
        if isinstance(e, DecodeError):
            raise
        raise DecodeError("manufacturer_data keys must be decimal company ids") from None
    svc = {normalize_uuid(k): _hex(v, f"service_data[{k}]") for k, v in _object(doc, "service_data").items()}
    rssi = doc.get("rssi", -127)
    if not isinstance(rssi, int) or isinstance(rssi, bool):
        shown = repr(rssi) if isinstance(rssi, float | bool | None) else type(rssi).__name__
        raise DecodeError(f"rssi must be an integer, got {shown}")
    name = doc.get("name")
    if name is not None and not isinstance(name, str):
        raise DecodeError(f"name must be a string, got {type(name).__name__}")
    return Advertisement(str(doc["address"]), rssi, name, mfr, svc, _service_uuids(doc))


def decode_line(decoder: BleDecoder, line: str) -> dict[str, Any]:
    """One input line -> the output object; never raises for bad input."""
    try:
        doc = json.loads(line)
    except RecursionError:
        return {"error": "not JSON: nested too deeply"}
    except ValueError as e:  # JSONDecodeError, and integers longer than Python's digit limit
        return {"error": f"not JSON: {e}"}
    if not isinstance(doc, dict) or "address" not in doc:
        return {"error": 'expected a JSON object with "address"'}
    try:
        if "characteristic" in doc:
            return decoder.gatt(str(doc["characteristic"]), _hex(doc.get("value"), "value")).to_json()
        return decoder.advertisement(_advertisement(doc)).to_json()
    except DecodeError as e:
        return {"error": str(e)}


MAX_LINE_BYTES = 64 * 1024  # an extended advertisement is at most 1650 bytes, 3300 in hex


def read_lines(stream: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """Lines of a byte stream, holding at most limit + 1 bytes of each: a longer line is cut there (and so told
    apart by its length) and the rest of it skipped."""
    while line := stream.readline(limit + 1):
        if len(line) > limit and not line.endswith(b"\n"):
            while (rest := stream.readline(limit + 1)) and not rest.endswith(b"\n"):
                pass
        yield line


def decode_lines(decoder: BleDecoder, lines: Iterable[bytes | str]) -> Iterator[dict[str, Any]]:
    for raw in lines:
        if len(raw.rstrip(b"\r\n" if isinstance(raw, bytes) else "\r\n")) > MAX_LINE_BYTES:
            yield {"error": f"line longer than {MAX_LINE_BYTES} bytes"}
            continue
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as e:
            yield {"error": f"not UTF-8: byte 0x{raw[e.start]:02x} at {e.start}"}
            continue
        if not line.strip():  # the contract: one output line per input line, so a blank line answers too
            yield {"error": "empty line"}
            continue
        try:
            out = decode_line(decoder, line)
        except Exception as e:  # a bug of ours costs this line, not every line after it
            traceback.print_exc()
            out = {"error": f"internal error: {type(e).__name__}: {e}"}
        yield out


def json_line(out: dict[str, Any]) -> bytes:
    """One output line, always valid UTF-8: JSON may carry lone surrogates ("\\ud800"), which UTF-8 cannot;
    they are written back as the same JSON escapes."""
    return json.dumps(out, ensure_ascii=False).encode("utf-8", "backslashreplace") + b"\n"


def cmd_decode(args: argparse.Namespace, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:
    """Bytes in and out: the locale's encoding (strict UTF-8 on Raspberry Pi OS) must not end the run."""
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    failed = False
    for out in decode_lines(_decoder(args), read_lines(stdin)):
        failed = failed or "error" in out
        stdout.write(json_line(out))
        stdout.flush()
    return 1 if failed else 0


def cmd_scan(args: argparse.Namespace) -> int:
    decoder = _decoder(args)

    def show(adv: Advertisement) -> None:
        result: DecodeResult = decoder.advertisement(adv)
        if result.readings or result.errors or args.all:
            sys.stdout.buffer.write(json_line({"address": adv.address, "rssi": adv.rssi, "name": adv.name,
                                               **result.to_json()}))
            sys.stdout.buffer.flush()

    async def scan() -> int:
        scanner = BleScanner(show, passive=not args.active, adapter=args.adapter, patterns=or_patterns(
            decoder.wristband_company_ids))
        task = asyncio.create_task(scanner.run())
        loop = asyncio.get_running_loop()
        end = loop.time() + args.seconds if args.seconds else float("inf")
        try:
            while loop.time() < end:
                await asyncio.sleep(0.1)
                if scanner.state is ScannerState.UNAVAILABLE:
                    print(f"edge ble scan: {scanner.last_error}", file=sys.stderr)
                    return 1
            return 0
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    print("scanning; Ctrl-C stops", file=sys.stderr)
    return asyncio.run(scan())
