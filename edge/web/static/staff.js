// The staff console. Loads /staff/api/overview, and again whenever /staff/api/stream says events arrived.
// A lost session (401) goes back to the login form. Keyboard focus survives the redraws.
"use strict";

(() => {
  const KINDS = {
    "wristband.sos": "紧急呼救 SOS", "wristband.missing": "手环失联", "wristband.heart_rate_alert": "心率异常",
    "wristband.battery_low": "手环电量低", "bin.full": "垃圾桶将满", "bin.sensor_fault": "垃圾桶传感器故障",
    "light.fault": "照明故障", "button.pressed": "呼叫按钮", "gateway.storage_recovered": "数据库已恢复",
    "gate.opened": "业主放行", "plate.visitor": "访客", "plate.read": "识别", "wristband.fall": "跌倒报警",
    "gate.camera_fault": "道闸摄像头故障", "parking.camera_fault": "车场摄像头故障", "gateway.disk_full": "存储空间已满",
    "gate.open_failed": "道闸未能打开", "sync.batch_rejected": "上传数据被拒", "sync.upstream_refused": "中心拒绝网关",
    "gateway.config_rejected": "远程配置被拒", "gateway.config_applied": "远程配置未全部生效",
  };
  // Why a camera or sensor fails, in a word staff read at a glance; the gateway's own text follows it.
  const REASONS = [[/same picture again/, "画面冻结"], [/has moved by/, "摄像头被移动，需重新标定车位"],
    [/picture is blank/, "画面全黑或被遮挡"], [/no picture from the camera|no frame/i, "没有画面"],
    [/^no_echo$/, "传感器无回波"], [/^out_of_range$/, "读数超出范围"]];
  const why = (v) => { const r = REASONS.find(([re]) => re.test(v)); return r ? `${r[1]}：${v}` : String(v); };
  const DETAILS = {
    heart_rate_bpm: (v) => `心率 ${v}`, bpm: (v) => `心率 ${v}`, battery_pct: (v) => `电量 ${v}%`,
    level_pct: (v) => `满度 ${v}%`,
    silent_hours: (v) => v < 1 ? `${Math.max(1, Math.round(v * 60))} 分钟未收到` : `${v} 小时未收到`,
    plate: (v) => `车牌 ${v}`, events: (v) => `${v} 条事件`, status: (v) => `HTTP ${v}`, path: (v) => `目录 ${v}`,
    failed: (v) => `未生效：${Object.keys(v).join("、")}`, error: why, reason: why,
  };
  const NO_FRAME = { "gate.camera_fault": "没有画面", "parking.camera_fault": "没有画面" }; // their error may be null
  const SOURCES = { store: "网关存储", sync: "与中心的同步" };
  const BIN_STATES = { normal: ["正常", "state-ok"], nearly_full: ["将满", "state-warn"], emptying: ["清运中", "state-ok"] };
  const LIGHT_STATES = { reported: ["待处理", "state-bad"], repairing: ["维修中", "state-warn"] };
  const DIRECTIONS = { entry: "入", in: "入", exit: "出", out: "出" };

  const $ = (id) => document.getElementById(id);
  let data = null;
  let offsetMs = 0;
  let source = null;
  let loading = false;
  let again = false;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function row(cells) {
    const tr = el("tr");
    for (const c of cells) {
      const td = el("td");
      if (c instanceof Node) td.append(c); else td.textContent = c === null || c === undefined ? "—" : String(c);
      tr.append(td);
    }
    return tr;
  }

  function fill(tbody, rows, emptyText, columns) {
    tbody.replaceChildren(...rows);
    if (!rows.length) {
      const td = el("td", "empty", emptyText);
      td.colSpan = columns;
      const tr = el("tr");
      tr.append(td);
      tbody.append(tr);
    }
  }

  const since = (ts) => (Date.now() + offsetMs - Date.parse(ts)) / 1000;

  function duration(s) {
    if (s < 60) return "刚刚";
    if (s < 3600) return `${Math.floor(s / 60)} 分钟前`;
    if (s < 86400) return `${Math.floor(s / 3600)} 小时 ${Math.floor((s % 3600) / 60)} 分钟前`;
    return `${Math.floor(s / 86400)} 天前`;
  }

  // Local time of the building; the date only when it is not today.
  function clock(ts) {
    if (!ts) return "—";
    const tz = data && data.kiosk ? data.kiosk.timezone : undefined;
    const day = (t) => t.toLocaleDateString("zh-CN", { timeZone: tz, month: "numeric", day: "numeric" });
    const t = new Date(ts);
    const time = t.toLocaleTimeString("zh-CN", { timeZone: tz, hour: "2-digit", minute: "2-digit", hour12: false });
    return day(t) === day(new Date(Date.now() + offsetMs)) ? time : `${day(t)} ${time}`;
  }

  function where(a) {
    if (a.flat) return `${a.flat} 室`;
    const place = [...data.kiosk.bins, ...data.kiosk.lights].find((p) => p.id === a.source);
    return place ? place.zh : a.data.bin || a.data.light || SOURCES[a.source] || a.source;
  }

  // The source (unless it is already the headline), then what the event says, in words
  function details(a) {
    const d = a.data;
    const said = Object.entries(DETAILS).filter(([k]) => d[k] !== undefined && d[k] !== null).map(([k, f]) => f(d[k]));
    if (!said.length && NO_FRAME[a.kind]) said.push(NO_FRAME[a.kind]);
    return where(a) === a.source ? said : [a.source, ...said];
  }

  function renderAlerts() {
    const focused = document.activeElement && document.activeElement.dataset.ack;
    const open = data.alerts.filter((a) => a.state === "open");
    const list = $("alert-list");
    list.replaceChildren();
    const count = $("alert-count");
    count.textContent = String(open.length);
    count.className = open.some((a) => a.priority === "critical") ? "count hot" : "count";
    if (!open.length) list.append(el("li", "none", "✓ 没有未处理的报警 No open alerts"));
    for (const a of open) {
      const li = el("li", `alert ${a.priority}`);
      li.dataset.alert = a.id;
      li.append(el("span", "kind", KINDS[a.kind] || a.kind));
      const w = el("span", "where", where(a));
      w.append(el("span", "detail", details(a).join(" · ")));
      li.append(w, el("span", "ago", duration(since(a.opened_ts))), el("span", "times", a.count > 1 ? `共 ${a.count} 次` : ""));
      const b = el("button", null, "确认");
      b.type = "button";
      b.dataset.ack = a.id;
      b.setAttribute("aria-label", `确认 ${KINDS[a.kind] || a.kind} ${where(a)}`);
      b.addEventListener("click", () => ack(a.id, b));
      li.append(b);
      list.append(li);
    }
    if (focused) {
      const again = list.querySelector(`button[data-ack="${focused}"]`) || list.querySelector("button[data-ack]");
      (again || $("alerts")).focus();
    }
    const acked = data.alerts.filter((a) => a.state === "acked");
    fill($("acked"), acked.map((a) => row([KINDS[a.kind] || a.kind, where(a), clock(a.opened_ts), a.acked_by, clock(a.acked_ts)])),
      "暂无", 5);
  }

  async function ack(id, button) {
    button.disabled = true;
    const r = await fetch(`/staff/api/alerts/${id}/ack`, { method: "POST", credentials: "same-origin" });
    if (r.status === 401) { location.reload(); return; }
    $("ack-status").textContent = r.ok ? "已确认" : `确认失败 (${r.status})`;
    await load();
  }

  function renderBands() {
    const b = data.wristbands;
    $("bands-summary").textContent =
      `最近 ${Math.round(b.unseen_after_s / 3600)} 小时内收到 ${b.heard_recently} 个手环；以下 ${b.silent.length} 个没有收到。`;
    fill($("bands-list"), b.silent.map((s) => row([s.flat ? `${s.flat} 室` : "—", s.band || s.source,
      s.last_heard ? `${clock(s.last_heard)}（${duration(s.silent_s)}）` : "保留期内未收到",
      s.missing_alert ? el("span", "state-bad", "是") : "否"])), "所有手环都在线", 4);
  }

  function renderPlaces() {
    const k = data.kiosk;
    fill($("bins-list"), k.bins.map((b) => {
      const [word, cls] = BIN_STATES[b.state] || [b.state, ""];
      return row([b.zh, b.level_pct === null ? "—" : `${b.level_pct}%`, el("span", cls, word)]);
    }), "暂无数据", 3);
    fill($("lights-list"), k.lights.map((f) => {
      const [word, cls] = LIGHT_STATES[f.state] || [f.state, ""];
      return row([f.zh, `${clock(f.since)}（${duration(since(f.since))}）`, el("span", cls, word)]);
    }), "没有照明故障", 3);
  }

  function renderParking() {
    const p = data.kiosk.parking;
    fill($("zones-list"), p.zones.map((z) => row([z.zh, z.free === null ? el("span", "state-bad", "摄像头看不清")
      : z.free, z.total])), "暂无停车数据", 3);
    $("nearest").textContent = p.nearest.map((n) => n.space
      ? `${n.zh} 最近空位 ${n.space}${n.distance_m !== null ? `（约 ${n.distance_m} 米）` : ""}` : `${n.zh} 暂无空位`).join("；");
    const c = data.charts.occupancy_day;
    EdgeCharts.line($("chart-occupancy"), c.labels, [{ name: "占用率", values: c.values }],
      { title: "今日每小时平均占用率" });
  }

  function renderBinWeek() {
    const c = data.charts.bins_week;
    const names = Object.fromEntries(data.kiosk.bins.map((b) => [b.id, b.zh]));
    const series = Object.entries(c.series).map(([id, values]) => ({ name: names[id] || id, values }));
    EdgeCharts.line($("chart-bins"), c.labels, series, { title: "一周内每 3 小时最高满度" });
  }

  function renderGate() {
    fill($("gate-list"), data.gate.map((g) => row([clock(g.ts), el("span", "plate", g.plate || "—"),
      KINDS[g.kind] || g.kind, DIRECTIONS[g.direction] || g.direction,
      typeof g.confidence === "number" ? `${Math.round(g.confidence * 100)}%` : null])), "暂无记录", 5);
  }

  function renderDevice() {
    const s = data.device.store;
    const r = data.device.report;
    const figures = [["待同步事件", s.unsynced], ["事件总数", s.events], ["未处理报警", s.open_alerts],
      ["数据库", `${(s.used_bytes / 1048576).toFixed(1)} / ${(s.max_bytes / 1048576).toFixed(0)} MB`],
      ["已淘汰事件", s.evicted]];
    if (r) figures.push(["内存", `${r.rss_mb} MB`], ["负载", r.load1], ["磁盘剩余", `${r.disk_free_mb} MB`]);
    $("store-figures").replaceChildren(...figures.map(([k, v]) => {
      const d = el("div");
      d.append(el("dt", null, k), el("dd", null, v === undefined || v === null ? "—" : String(v)));
      return d;
    }));
    fill($("health-list"), Object.entries(data.health.subsystems).map(([name, h]) => {
      const ok = h.ok !== false && (h.state === undefined || h.state === "running");
      const note = [h.state, h.restarts ? `重启 ${h.restarts} 次` : "", h.last_error || h.error || ""].filter(Boolean).join(" · ");
      return row([name, el("span", ok ? "state-ok" : "state-bad", ok ? "✓ 正常" : "✗ 异常"), note]);
    }), "—", 3);
  }

  function renderNotices() {
    const ul = $("notice-list");
    ul.replaceChildren();
    if (!data.notices.length) ul.append(el("li", null, "暂无通知"));
    for (const n of data.notices) {
      const li = el("li");
      li.append(el("span", null, n.en ? `${n.zh} / ${n.en}` : n.zh));
      if (n.source === "api") {
        const b = el("button", "quiet", "撤下");
        b.type = "button";
        b.addEventListener("click", () => removeNotice(n.id));
        li.append(b);
      } else {
        li.append(el("small", null, "（配置文件）"));
      }
      ul.append(li);
    }
  }

  async function removeNotice(id) {
    const r = await fetch(`/staff/api/notices/${encodeURIComponent(id)}`, { method: "DELETE", credentials: "same-origin" });
    $("notice-status").textContent = r.ok ? "已撤下" : `失败 (${r.status})`;
    await load();
  }

  async function publish(event) {
    event.preventDefault();
    const form = event.target;
    const body = { zh: form.zh.value.trim() };
    if (form.en.value.trim()) body.en = form.en.value.trim();
    if (form.until.value) body.until = new Date(`${form.until.value}T23:59:59`).toISOString();
    const r = await fetch("/staff/api/notices", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    $("notice-status").textContent = r.ok ? "已发布" : `发布失败 (${r.status})`;
    if (r.ok) form.reset();
    await load();
  }

  function setLive(up) {
    const live = $("live");
    live.className = up ? "live" : "live down";
    live.textContent = up ? "实时" : "正在重新连接…";
  }

  function render() {
    $("building").textContent = data.kiosk.building.zh;
    $("user").textContent = data.user;
    renderAlerts();
    renderBands();
    renderPlaces();
    renderParking();
    renderBinWeek();
    renderGate();
    renderDevice();
    renderNotices();
  }

  async function load() {
    if (loading) { again = true; return; }
    loading = true;
    try {
      const r = await fetch("/staff/api/overview", { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { location.reload(); return; }
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      data = await r.json();
      offsetMs = Date.parse(data.now) - Date.now();
      render();
    } catch (e) {
      setLive(false);
    } finally {
      loading = false;
      if (again) { again = false; load(); }
    }
  }

  function connect() {
    if (source) source.close();
    source = new EventSource("/staff/api/stream");
    source.addEventListener("changed", () => { setLive(true); load(); });
    source.onerror = () => {
      setLive(false);
      if (source.readyState === EventSource.CLOSED) setTimeout(() => { load(); connect(); }, 3000);
    };
  }

  $("notice-form").addEventListener("submit", publish);
  setInterval(() => { if (data) renderAlerts(); }, 30000);
  load();
  connect();
})();
