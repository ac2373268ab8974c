"""GET /: the public lobby page. It shows no health data, no resident identity and no full plates."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from edge.api.deps import Services

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{building} 社区信息屏</title>
<style>
body{{margin:0;background:#000;color:#fff;font:48px/1.4 "Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif}}
main{{padding:4vh 4vw}} h1{{font-size:72px;margin:0 0 3vh}} time{{font-size:96px;font-weight:700}}
</style></head>
<body><main><h1>{building} 号楼</h1><time id="clock"></time>
<p>紧急求助请拨 110 · 火警 119 · 急救 120</p></main>
<script>
function tick(){{document.getElementById('clock').textContent=new Date().toLocaleTimeString('zh-CN',{{hour12:false}});}}
tick();setInterval(tick,1000);
</script></body></html>"""


def router(svc: Services) -> APIRouter:
    r = APIRouter(tags=["kiosk"])
    page = PAGE.format(building=escape(svc.config.building_id))

    @r.get("/", response_class=HTMLResponse, summary="The lobby kiosk page (public)")
    def kiosk() -> HTMLResponse:
        return HTMLResponse(page)

    return r
