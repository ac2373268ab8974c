"""Before provisioning: `edge run --wait-for-provisioning` serves a "not provisioned" screen to the kiosk.

The screen shows the device's serial (so the installer can claim it on the central server), how to provision it
and, if a provisioning file was refused, why. /healthz answers 503 with status "unprovisioned". When the
configuration file appears, the server stops and `edge run` goes on with it in the same process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from html import escape
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from edge import __version__, device, logs
from edge.config import RuntimeEnv
from edge.notify import Notifier
from edge.provision import LAST_ERROR

log = logging.getLogger(__name__)

POLL_S = 1.0  # how often to look for the configuration file

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>尚未配置 Not provisioned</title>
<style>
body{{margin:0;background:#102a43;color:#fff;font:36px/1.45 "Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif}}
main{{padding:5vh 5vw}} h1{{font-size:80px;margin:0 0 2vh;color:#ffd166}} .en{{color:#bcccdc;font-size:30px}}
.serial{{font:700 72px/1.2 monospace;letter-spacing:.06em;background:#243b53;padding:.3em .5em;display:inline-block}}
code{{font-family:monospace;color:#ffd166}} .error{{background:#7a1f1f;padding:1em;white-space:pre-wrap;font-size:26px}}
</style></head>
<body><main>
<h1>尚未配置 <span class="en">Not provisioned</span></h1>
<p>设备序列号 <span class="en">Device serial</span><br><span class="serial" id="serial">{serial}</span></p>
<p class="en">{model} · {host}</p>
<p>配置方法 <span class="en">To provision:</span><br>
1. 将 <code>edge-gateway.toml</code> 放入 SD 卡启动分区后重启
<span class="en">(put edge-gateway.toml on the SD card's boot partition and reboot)</span><br>
2. 或通过 SSH: <code>sudo edge provision --device-id … --building … --server … --token …</code></p>
{error}
</main>
<script>
// when the gateway starts with its configuration, show its page (a failed fetch in between keeps this one)
setInterval(function(){{fetch('/healthz',{{cache:'no-store'}}).then(function(r){{return r.json();}})
.then(function(h){{if(h.status!=='unprovisioned'){{location.reload();}}}}).catch(function(){{}});}},3000);
</script></body></html>"""


def host_line() -> str:
    """The host name and the address other machines reach it at (for SSH); a UDP connect sends nothing."""
    name = socket.gethostname()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            return f"{name} · {s.getsockname()[0]}"
    except OSError:
        return name


def create_app(config_path: Path, *, serial: str | None, model: str | None) -> FastAPI:
    app = FastAPI(title="edge-gateway (not provisioned)", version=__version__, docs_url=None, redoc_url=None)
    shown_serial = serial or "unknown"
    report: dict[str, Any] = {"status": "unprovisioned", "serial": serial, "version": __version__,
                              "config": str(config_path)}

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE.format(serial=escape(shown_serial), model=escape(model or "edge-gateway"),
                                        host=escape(host_line()), error=_last_error(config_path)))

    @app.get("/healthz")
    @app.head("/healthz")  # as the gateway's: monitoring tools probe with HEAD
    def healthz() -> JSONResponse:
        return JSONResponse(report, status_code=503)

    return app


def _last_error(config_path: Path) -> str:
    try:
        text = (config_path.parent / LAST_ERROR).read_text()
    except OSError:
        return ""
    return (f'<p>上次配置失败 <span class="en">Last provisioning was refused:</span></p>'
            f'<p class="error">{escape(text)}</p>')


def wait(env: RuntimeEnv, host: str, port: int) -> int | None:
    """`edge run --wait-for-provisioning` without a configuration: None once it is provisioned (run with it),
    else the exit status (0 when stopped, 1 when the screen could not be served)."""
    logs.setup("info")
    try:
        provisioned = asyncio.run(serve_until_provisioned(
            env.config_path, host, port, notifier=Notifier(env.notify_socket), watchdog_usec=env.watchdog_usec))
    except OSError as e:
        log.error("%s", e)
        return 1
    return None if provisioned else 0


async def serve_until_provisioned(config_path: Path, host: str, port: int, *, notifier: Notifier,
                                  watchdog_usec: int | None, proc: Path = device.PROC) -> bool:
    """Serve the screen until `config_path` exists (True) or SIGTERM/SIGINT (False)."""
    from edge.main import _Server, bind  # the gateway's own listening socket and server

    sock = bind(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    serial = device.serial(proc)
    app = create_app(config_path, serial=serial, model=device.model(proc))
    server = _Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    shown = serial or "unknown"  # as on the screen (no serial off a Pi)
    log.warning("not provisioned (serial %s): waiting for %s; the kiosk shows how to provision", shown, config_path)
    notifier.status(f"not provisioned (serial {shown}); waiting for {config_path}")
    notifier.ready()
    try:
        while not stop.is_set() and not config_path.exists():
            if serving.done():  # the server failed: let systemd restart us
                serving.result()
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_S)
            if watchdog_usec:  # the loop turns: well within WatchdogSec
                notifier.watchdog()
    finally:
        server.should_exit = True
        await serving
        sock.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    if stop.is_set():
        notifier.stopping()
        return False
    log.info("%s appeared: starting the gateway", config_path)
    return True
