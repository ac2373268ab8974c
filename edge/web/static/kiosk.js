// The lobby screen. Follows /api/v1/kiosk/stream (Server-Sent Events) and redraws from each state it receives.
// Recovers by itself: EventSource reconnects after a drop; when it gives up, or nothing came for 45 s, we reconnect.
"use strict";

(() => {
  const WORDS = {
    zh: {
      parking: "空余车位", bins: "垃圾桶", lights: "照明维修", notices: "社区通知", phones: "紧急电话",
      full: "已满", of: (n) => `/ ${n} 个`, nearest: "最近空位", noFree: "暂无空位",
      from: (e) => `从${e}进`, metres: (m) => `约 ${m} 米`, welcome: "欢迎回家",
      normal: "正常", nearly_full: "将满", emptying: "清运中", reported: "已报修", repairing: "维修中",
      lightsOk: "照明一切正常", noBins: "暂无数据", noNotices: "暂无通知", noParking: "暂无停车数据",
      unknown: "暂时无法统计", cannotCount: "摄像头暂时看不清，空位稍后显示",
      moreFaults: (n) => `另有 ${n} 处`, moreBins: (n) => `另有 ${n} 个`, live: "实时更新", down: "正在重新连接…", connecting: "正在连接…",
      part: (i, n) => `第 ${i}/${n} 段`,
      switchTo: "English", title: "社区信息屏",
      ago: (s) => s < 90 ? "刚刚" : s < 3600 ? `${Math.round(s / 60)} 分钟前`
        : s < 86400 ? `${Math.round(s / 3600)} 小时前` : `${Math.round(s / 86400)} 天前`,
      arrows: { ahead: "直行", "ahead-right": "右前方", right: "右转", "back-right": "右后方", back: "向后",
        "back-left": "左后方", left: "左转", "ahead-left": "左前方" },
    },
    en: {
      parking: "Free parking", bins: "Bins", lights: "Light repairs", notices: "Notices", phones: "Emergency",
      full: "Full", of: (n) => `of ${n}`, nearest: "Nearest free space", noFree: "No free space",
      from: (e) => `from ${e}`, metres: (m) => `about ${m} m`, welcome: "Welcome home",
      normal: "OK", nearly_full: "Nearly full", emptying: "Emptying", reported: "Reported",
      repairing: "Repairing", lightsOk: "All lights working", noBins: "No data yet", noNotices: "No notices",
      noParking: "No parking data yet", moreFaults: (n) => `${n} more`, moreBins: (n) => `${n} more`, live: "Live",
      unknown: "Not counted just now", cannotCount: "The camera cannot see just now: free spaces will show again soon",
      part: (i, n) => `part ${i} of ${n}`,
      down: "Reconnecting…", connecting: "Connecting…", switchTo: "中文", title: "Community screen",
      ago: (s) => s < 90 ? "just now" : s < 3600 ? `${Math.round(s / 60)} min ago`
        : s < 86400 ? `${Math.round(s / 3600)} h ago` : `${Math.round(s / 86400)} days ago`,
      arrows: { ahead: "Straight ahead", "ahead-right": "Ahead right", right: "Turn right",
        "back-right": "Behind right", back: "Behind you", "back-left": "Behind left", left: "Turn left",
        "ahead-left": "Ahead left" },
    },
  };
  const ROTATION = { ahead: 0, "ahead-right": 45, right: 90, "back-right": 135, back: 180, "back-left": 225,
    left: 270, "ahead-left": 315 };
  const NOTICE_EVERY_MS = 12000;
  const SILENCE_MS = 45000;

  const BACK_HOME_MS = 60000; // a visitor's English goes back to the lobby's language after a minute untouched

  const params = new URLSearchParams(location.search);
  // hasOwn: "constructor" and the like are not languages
  const HOME_LANG = Object.hasOwn(WORDS, params.get("lang") || "") ? params.get("lang") : "zh";
  let lang = HOME_LANG; // never stored: the next visitor, and the next start, find the lobby's language
  let backHome = null;
  let state = null;
  let offsetMs = 0; // server clock minus ours
  let source = null;
  let lastMessage = Date.now();
  let connected = false;
  let noticeStart = 0;
  let noticeShown = 0;
  let noticePart = 0; // a notice too long for the card is shown a part at a time
  let noticeParts = 1;

  const $ = (id) => document.getElementById(id);
  const w = (key, ...args) => { const v = WORDS[lang][key]; return typeof v === "function" ? v(...args) : v; };
  const label = (o) => (lang === "en" && o.en) ? o.en : o.zh;
  const now = () => Date.now() + offsetMs;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function arrow(dir) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 100 100");
    svg.setAttribute("class", "arrow");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", w("arrows")[dir]);
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M50 6 L92 50 H66 V94 H34 V50 H8 Z");
    path.setAttribute("transform", `rotate(${ROTATION[dir]} 50 50)`);
    svg.append(path);
    return svg;
  }

  function renderWords() {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    document.querySelectorAll("[data-t]").forEach((e) => { e.textContent = w(e.dataset.t); });
    $("lang").textContent = w("switchTo");
    $("lang").lang = lang === "en" ? "zh-CN" : "en";
  }

  function renderParking(p) {
    const zones = $("zones");
    zones.replaceChildren();
    zones.classList.toggle("many", p.zones.length > 2);
    for (const z of p.zones) {
      if (z.free === null) { zones.append(notCounted(z)); continue; }
      const li = el("li", z.free > 0 ? "zone" : "zone full");
      li.dataset.zone = z.zone;
      li.append(el("span", "name", label(z)));
      if (z.arrow) li.append(arrow(z.arrow)); // in a small tile it follows the name's last word (kiosk.css)
      const count = el("span", "count");
      count.append(el("span", "free", z.free > 0 ? String(z.free) : w("full")), " ",
        el("span", "total", w("of", z.total)));
      li.append(count);
      zones.append(li);
    }
    const guide = $("guide");
    guide.replaceChildren();
    if (!p.zones.some((z) => z.free !== null)) guide.append(el("p", null, w(p.zones.length ? "cannotCount" : "noParking")));
    for (const n of p.nearest.slice(0, 2)) {
      const line = el("p");
      line.append(el("span", "go", `${w("nearest")} `));
      if (n.space) {
        const zone = p.zones.find((z) => z.zone === n.zone);
        line.append(el("span", "space", n.space), ` ${zone ? label(zone) : ""} · ${w("from", label(n))}`);
        if (n.distance_m !== null) line.append(` · ${w("metres", n.distance_m)}`);
      } else {
        line.append(`${w("from", label(n))}: ${w("noFree")}`);
      }
      guide.append(line);
    }
    const entry = $("entry");
    entry.hidden = !p.entry;
    if (p.entry) {
      entry.replaceChildren(`${w("welcome")} `, el("b", null, p.entry.plate), ` · ${w("ago", (now() - Date.parse(p.entry.ts)) / 1000)}`);
    }
  }

  // A zone only a blind camera sees stays on the screen, said not to be counted: taken off, residents looked for it.
  function notCounted(z) {
    const li = el("li", "zone unknown");
    li.dataset.zone = z.zone;
    li.append(el("span", "name", label(z)), el("span", "count", w("unknown")));
    return li;
  }

  const ATTENTION = { nearly_full: 0, emptying: 1, normal: 2 };

  // The bins that need attention first, so that they are the ones still shown when not all fit.
  function renderBins(all) {
    const bins = [...all].sort((a, b) => (ATTENTION[a.state] ?? 3) - (ATTENTION[b.state] ?? 3));
    const ul = $("bins");
    ul.replaceChildren();
    ul.classList.toggle("many", bins.length > 4);
    if (!bins.length) ul.append(el("li", "more", w("noBins")));
    for (const b of bins) {
      const li = el("li", "row");
      li.dataset.bin = b.id;
      const what = el("span", "what", label(b));
      if (b.level_pct !== null) what.append(el("span", "pct", `${b.level_pct}%`));
      const meter = el("span", `meter ${b.state}`);
      const fill = el("i");
      fill.style.width = `${Math.max(0, Math.min(100, b.level_pct || 0))}%`;
      meter.append(fill);
      li.append(what, meter, el("span", `chip ${b.state}`, w(b.state)));
      ul.append(li);
    }
  }

  // A busy building must not push anything off the screen: drop the last rows until the card fits, and say so.
  function fit(ul, total, moreText) {
    const card = ul.closest(".card");
    let shown = ul.children.length;
    let more = null;
    while (shown > 1 && card.scrollHeight > card.clientHeight + 1) {
      (more ? more.previousElementSibling : ul.lastElementChild).remove();
      shown -= 1;
      if (!more) { more = el("li", "more"); ul.append(more); }
      more.textContent = moreText(total - shown);
    }
  }

  function renderLights(lights) {
    const ul = $("lights");
    ul.replaceChildren();
    if (!lights.length) ul.append(el("li", "allgood", w("lightsOk")));
    for (const f of lights) {
      const li = el("li", "row");
      li.dataset.light = f.id;
      const what = el("span", "what", label(f));
      what.append(el("span", "since", ` · ${w("ago", (now() - Date.parse(f.since)) / 1000)}`));
      li.append(what, el("span", `chip ${f.state}`, w(f.state)));
      ul.append(li);
    }
  }

  // As many notices as fit without scrolling; when there are more, the next ones follow every few seconds. A notice
  // cut short (too long for the card, or for its four lines beside others) is shown alone, a part at a time, so
  // that its end is read too.
  function renderNotices() {
    const ul = $("notices");
    const list = state ? state.notices : [];
    ul.replaceChildren();
    $("pager").textContent = "";
    noticeParts = 1;
    if (!list.length) { ul.append(el("li", "none", w("noNotices"))); return; }
    const start = noticeStart % list.length;
    noticeShown = 0;
    while (noticeShown < list.length) {
      const li = el("li", null, label(list[(start + noticeShown) % list.length]));
      ul.append(li);
      // A notice is cut when a line of it is missing: the CJK font's glyphs reach a few pixels past their line, so
      // even a one-line notice is that much taller inside than its box (it was shown alone, "in parts", each time).
      const slack = parseFloat(getComputedStyle(li).lineHeight) / 2;
      const cut = li.scrollHeight > li.clientHeight + slack || ul.scrollHeight > ul.clientHeight + 1;
      if (cut && noticeShown > 0) { li.remove(); break; }
      noticeShown += 1;
      if (cut) { showInParts(ul, li); break; }
    }
    const pager = [];
    if (noticeShown < list.length) {
      pager.push(`${Math.floor(start / noticeShown) + 1} / ${Math.ceil(list.length / noticeShown)}`);
    }
    if (noticeParts > 1) pager.push(w("part", noticePart % noticeParts + 1, noticeParts));
    $("pager").textContent = pager.join(" · ");
  }

  // The notice as whole lines filling the card, scrolled to part noticePart (the last part shows the last lines).
  function showInParts(ul, li) {
    li.classList.add("parts");
    const lineHeight = parseFloat(getComputedStyle(li).lineHeight);
    const lines = Math.max(1, Math.floor(ul.clientHeight / lineHeight));
    li.style.height = `${lines * lineHeight}px`;
    noticeParts = Math.max(1, Math.ceil(Math.round(li.scrollHeight / lineHeight) / lines));
    li.scrollTop = (noticePart % noticeParts) * lines * lineHeight;
  }

  function renderPhones(phones) {
    const ul = $("phones");
    ul.replaceChildren();
    for (const p of phones) {
      const li = el("li");
      li.append(el("span", null, lang === "en" ? p.en : p.zh), " ", el("b", null, p.number));
      ul.append(li);
    }
  }

  function renderStatus() {
    const s = $("status");
    s.className = `status ${connected ? "live" : "down"}`;
    s.textContent = connected ? w("live") : (state ? w("down") : w("connecting"));
  }

  function tick() {
    const tz = state ? state.timezone : undefined;
    const locale = lang === "en" ? "en-GB" : "zh-CN";
    const t = new Date(now());
    $("clock").textContent = t.toLocaleTimeString(locale, { timeZone: tz, hour: "2-digit", minute: "2-digit", hour12: false });
    $("date").textContent = t.toLocaleDateString(locale, { timeZone: tz, month: "long", day: "numeric",
      weekday: lang === "en" ? "short" : "long" });
  }

  function render() {
    renderWords();
    renderStatus();
    tick();
    if (!state) return;
    $("building").textContent = label(state.building);
    document.title = `${label(state.building)} · ${w("title")}`;
    renderParking(state.parking);
    renderBins(state.bins);
    renderLights(state.lights);
    renderPhones(state.phones);
    // Everything is drawn in full first, so the layout knows what each card wants; then the cards that give way
    // drop rows, and the notices take the room that is left.
    const screen = document.querySelector(".screen");
    screen.classList.remove("wide");
    fitRows();
    // Many zones with long names can still crowd the screen (a card cut off, the notices pushed over the emergency
    // numbers). On a landscape screen the parking card then spans both columns (in half the width, four tiles of
    // English names grew five lines tall), and the bins and lights give way below it; then the greeting, and the
    // guide's second line, make room too.
    if (state.parking.zones.length > 2 && crowded() && matchMedia("(orientation: landscape)").matches) {
      screen.classList.add("wide");
      refit();
    }
    const spare = [$("entry"), $("guide").children[1]].filter((e) => e && !e.hidden);
    while (spare.length && crowded()) {
      spare.shift().hidden = true;
      refit();
    }
    renderNotices();
  }

  function refit() {
    renderBins(state.bins);
    renderLights(state.lights);
    fitRows();
  }

  function fitRows() {
    fit($("bins"), state.bins.length, (n) => w("moreBins", n));
    fit($("lights"), state.lights.length, (n) => w("moreFaults", n));
  }

  function crowded() {
    const phones = document.querySelector(".phones").getBoundingClientRect().top;
    return [...document.querySelectorAll(".card")].some((c) => c.scrollHeight > c.clientHeight + 1
      || c.getBoundingClientRect().bottom > phones + 1);
  }

  function onState(message) {
    lastMessage = Date.now();
    const next = JSON.parse(message.data);
    if (state && next.version !== state.version) { location.reload(); return; } // the gateway was upgraded
    state = next;
    offsetMs = Date.parse(state.now) - Date.now();
    connected = true;
    render();
  }

  function connect() {
    if (source) source.close();
    source = new EventSource("/api/v1/kiosk/stream");
    source.addEventListener("state", onState);
    source.onerror = () => {
      connected = false;
      renderStatus();
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    };
  }

  $("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    clearTimeout(backHome);
    if (lang !== HOME_LANG) backHome = setTimeout(() => { lang = HOME_LANG; render(); }, BACK_HOME_MS);
    render();
  });
  setInterval(tick, 1000);
  setInterval(() => {
    if (Date.now() - lastMessage > SILENCE_MS) { connected = false; renderStatus(); lastMessage = Date.now(); connect(); }
  }, 5000);
  setInterval(() => {
    if (noticePart + 1 < noticeParts) {
      noticePart += 1;
    } else {
      noticePart = 0;
      noticeStart = state && noticeShown < state.notices.length ? noticeStart + Math.max(1, noticeShown) : 0;
    }
    renderNotices();
  }, NOTICE_EVERY_MS);
  render();
  connect();
})();
