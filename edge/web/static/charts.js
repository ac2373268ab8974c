// Small line charts as inline SVG, drawn in the page from numbers the gateway computed. No chart library to
// fetch: the gateway is often offline. Each chart also carries its numbers as a table for screen readers.
"use strict";

(() => {
  const NS = "http://www.w3.org/2000/svg";
  const COLOURS = ["#0b57b0", "#c2410c", "#15803d", "#a21caf", "#92400e", "#0e7490"];
  const W = 460, H = 210, LEFT = 42, RIGHT = 16, TOP = 10, BOTTOM = 30;

  function svgNode(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function htmlNode(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Runs of consecutive non-null values: a gap in the data is a gap in the line.
  function runs(values) {
    const out = [];
    let run = [];
    values.forEach((v, i) => {
      if (v === null || v === undefined) { if (run.length) out.push(run); run = []; } else run.push([i, v]);
    });
    if (run.length) out.push(run);
    return out;
  }

  function table(labels, series, unit) {
    const details = htmlNode("details");
    details.append(htmlNode("summary", null, "数据表 Data"));
    const t = htmlNode("table");
    const head = htmlNode("tr");
    head.append(htmlNode("th", null, ""));
    series.forEach((s) => { const th = htmlNode("th", null, s.name); th.scope = "col"; head.append(th); });
    t.append(head);
    labels.forEach((label, i) => {
      if (series.every((s) => s.values[i] === null)) return;
      const tr = htmlNode("tr");
      const th = htmlNode("th", null, label);
      th.scope = "row";
      tr.append(th);
      series.forEach((s) => tr.append(htmlNode("td", null, s.values[i] === null ? "—" : `${s.values[i]}${unit}`)));
      t.append(tr);
    });
    details.append(t);
    return details;
  }

  function line(container, labels, series, { max = 100, unit = "%", title = "" } = {}) {
    container.replaceChildren();
    if (!series.some((s) => s.values.some((v) => v !== null))) {
      container.append(htmlNode("p", "nodata", "暂无数据 No data yet"));
      return;
    }
    const n = labels.length;
    const x = (i) => LEFT + (W - LEFT - RIGHT) * (n <= 1 ? 0.5 : i / (n - 1));
    const y = (v) => TOP + (H - TOP - BOTTOM) * (1 - Math.min(max, Math.max(0, v)) / max);
    const svg = svgNode("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
    svg.append(svgNode("title", {}, title));
    for (let v = 0; v <= max; v += max / 4) {
      svg.append(svgNode("line", { class: v ? "grid" : "axis", x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v) }));
      svg.append(svgNode("text", { x: LEFT - 6, y: y(v) + 4, "text-anchor": "end" }, `${v}${unit}`));
    }
    const step = Math.max(1, Math.ceil(n / 6));
    for (let i = 0; i < n; i += step) {
      svg.append(svgNode("line", { class: "axis", x1: x(i), x2: x(i), y1: H - BOTTOM, y2: H - BOTTOM + 4 }));
      svg.append(svgNode("text", { x: x(i), y: H - BOTTOM + 18, "text-anchor": "middle" }, labels[i]));
    }
    series.forEach((s, k) => {
      const colour = COLOURS[k % COLOURS.length];
      for (const run of runs(s.values)) {
        if (run.length === 1) {
          svg.append(svgNode("circle", { cx: x(run[0][0]), cy: y(run[0][1]), r: 3, fill: colour }));
          continue;
        }
        const points = run.map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
        if (series.length === 1) {
          const base = `${x(run[run.length - 1][0]).toFixed(1)},${y(0)} ${x(run[0][0]).toFixed(1)},${y(0)}`;
          svg.append(svgNode("polygon", { class: "area", fill: colour, points: `${points.join(" ")} ${base}` }));
        }
        svg.append(svgNode("polyline", { fill: "none", stroke: colour, "stroke-width": 2.5,
          "stroke-linejoin": "round", points: points.join(" "), "data-series": s.name }));
      }
    });
    container.append(svg);
    if (series.length > 1) {
      const legend = htmlNode("ul", "legend");
      series.forEach((s, k) => {
        const li = htmlNode("li");
        const swatch = htmlNode("i");
        swatch.style.background = COLOURS[k % COLOURS.length];
        li.append(swatch, s.name);
        legend.append(li);
      });
      container.append(legend);
    }
    container.append(table(labels, series, unit));
  }

  window.EdgeCharts = { line };
})();
