// Parking calibration: draw, edit and delete the space polygons and place the entrances over the camera's snapshot,
// then save the map.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const api = '/staff/api/parking/cameras';
  let cameras = [], cam = null, doc = {spaces: []}, states = {}, selected = -1, drawing = null, drag = null;
  let faults = [];  // the open or acknowledged parking.camera_fault alerts: a blind camera, and why
  let entrance = -1, placing = false, dragEntrance = false;  // the selected entrance; placing a new one

  function el(name, attrs, parent) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    parent.appendChild(e);
    return e;
  }

  function say(text, ok) {
    const m = $('message');
    m.textContent = '';
    const p = document.createElement('p');
    p.className = ok ? 'ok' : 'error';
    p.textContent = text;
    m.appendChild(p);
  }

  function point(ev) {  // the mouse position in image pixels
    const svg = $('overlay'), box = svg.getBoundingClientRect(), vb = svg.viewBox.baseVal;
    const x = (ev.clientX - box.left) / box.width * vb.width, y = (ev.clientY - box.top) / box.height * vb.height;
    return [Math.round(Math.max(0, Math.min(vb.width, x)) * 10) / 10, Math.round(Math.max(0, Math.min(vb.height, y)) * 10) / 10];
  }

  function draw() {
    const svg = $('overlay');
    svg.textContent = '';
    doc.spaces.forEach((s, i) => {
      const poly = el('polygon', {points: s.polygon.map(p => p.join(',')).join(' '), 'data-space': s.id,
        class: (states[s.id] ? 'occupied' : '') + (i === selected ? ' selected' : '')}, svg);
      poly.addEventListener('mousedown', (ev) => { if (!drawing && !placing) { ev.stopPropagation(); select(i); } });
      const xs = s.polygon.map(p => p[0]), ys = s.polygon.map(p => p[1]);
      const t = el('text', {x: xs.reduce((a, b) => a + b) / xs.length, y: ys.reduce((a, b) => a + b) / ys.length,
        'text-anchor': 'middle'}, svg);
      t.textContent = s.id;
    });
    if (selected >= 0) {
      doc.spaces[selected].polygon.forEach((p, j) => {
        const c = el('circle', {cx: p[0], cy: p[1], r: 6, 'data-vertex': j}, svg);
        c.addEventListener('mousedown', (ev) => { ev.stopPropagation(); drag = j; });
      });
    }
    (doc.entrances || []).forEach((e, i) => {
      if (!e.point) return;
      const [x, y] = e.point;
      const mark = el('polygon', {points: `${x},${y - 14} ${x + 12},${y + 8} ${x - 12},${y + 8}`, 'data-entrance': e.id,
        class: 'entrance' + (i === entrance ? ' selected' : '')}, svg);
      mark.addEventListener('mousedown', (ev) => {
        if (drawing || placing) return;
        ev.stopPropagation();
        selectEntrance(i);
        dragEntrance = true;
      });
      const t = el('text', {x, y: y - 20, 'text-anchor': 'middle', class: 'entrance'}, svg);
      t.textContent = e.id;
    });
    if (drawing) {
      el('polyline', {points: drawing.map(p => p.join(',')).join(' ')}, svg);
      drawing.forEach((p, j) => el('circle', {cx: p[0], cy: p[1], r: 6, 'data-new': j}, svg));
    }
    const list = $('spaces');
    list.textContent = '';
    doc.spaces.forEach((s, i) => {
      const li = document.createElement('li'), b = document.createElement('button');
      b.type = 'button';
      b.textContent = `${s.id} · ${s.zone}` + (s.id in states ? (states[s.id] ? ' · 有车' : ' · 空') : '');
      b.addEventListener('click', () => select(i));
      li.appendChild(b);
      list.appendChild(li);
    });
    $('count').textContent = doc.spaces.length;
  }

  function select(i) {
    selected = i;
    if (i >= 0) { entrance = -1; $('entrance-edit').hidden = true; }
    $('edit').hidden = i < 0;
    if (i >= 0) {
      $('space-id').value = doc.spaces[i].id;
      $('space-zone').value = doc.spaces[i].zone;
    }
    draw();
  }

  function selectEntrance(i) {
    entrance = i;
    $('entrance-edit').hidden = i < 0;
    if (i >= 0) {
      selected = -1;
      $('edit').hidden = true;
      $('entrance-id').value = doc.entrances[i].id;
    }
    draw();
  }

  function placeEntrance(p) {
    doc.entrances = doc.entrances || [];
    let n = doc.entrances.length + 1;
    while (doc.entrances.some(e => e.id === `gate-${n}`)) n++;
    doc.entrances.push({id: `gate-${n}`, point: p});
    placing = false;
    $('add-entrance').disabled = false;
    selectEntrance(doc.entrances.length - 1);
  }

  // distances (metres from an entrance to a space, typed into the file) follow renames and deletions
  function renameSpace(from, to) {
    for (const row of Object.values(doc.distances || {})) {
      if (from in row) { row[to] = row[from]; delete row[from]; }
    }
  }

  function dropSpace(id) {
    for (const row of Object.values(doc.distances || {})) delete row[id];
  }

  function renameEntrance(from, to) {
    if (doc.distances && from in doc.distances) { doc.distances[to] = doc.distances[from]; delete doc.distances[from]; }
  }

  function nextId(zone) {
    for (let n = 1; ; n++) {
      const id = `${zone}-${String(n).padStart(2, '0')}`;
      if (!doc.spaces.some(s => s.id === id)) return id;
    }
  }

  function finish() {
    if (drawing && drawing.length >= 3) {
      const zone = selected >= 0 ? doc.spaces[selected].zone : (doc.spaces.at(-1)?.zone || 'A');
      doc.spaces.push({id: nextId(zone), zone, polygon: drawing});
      drawing = null;
      select(doc.spaces.length - 1);
    } else {
      drawing = null;
      draw();
    }
    $('finish').hidden = true;
    $('add').disabled = false;
  }

  // A blind camera (frozen, turned, blank, no picture) says so over its picture: its spaces are off the kiosk, and a
  // turned one needs its map drawn again. Its spaces show no state then: nothing is known of them.
  async function loadFaults() {
    const r = await fetch('/staff/api/overview');
    faults = r.ok ? (await r.json()).alerts.filter(a => a.kind === 'parking.camera_fault') : [];
  }

  function showFault() {
    const f = faults.find(a => a.source === cam.name), p = $('fault');
    p.hidden = !f;
    if (f) p.textContent = '摄像头现在看不清，它的车位不计入亭屏。The camera cannot see; its spaces are off the kiosk: '
      + (f.data.error || 'no picture');
  }

  async function load() {
    await loadFaults();
    const r = await fetch(api);
    if (!r.ok) { say(`${r.status}: ${(await r.json()).detail}`); return; }
    cameras = await r.json();
    const sel = $('camera');
    sel.textContent = '';
    for (const c of cameras) { const o = document.createElement('option'); o.value = o.textContent = c.name; sel.appendChild(o); }
    if (cameras.length) show(cameras[0].name);
  }

  function show(name) {
    cam = cameras.find(c => c.name === name);
    doc = cam.map ? JSON.parse(JSON.stringify(cam.map)) : {spaces: []};
    states = cam.states || {};
    if (cam.map_error) say(cam.map_error);
    selected = -1;
    entrance = -1;
    $('edit').hidden = true;
    $('entrance-edit').hidden = true;
    $('mpp').value = doc.metres_per_pixel || '';
    showFault();
    snapshot();
  }

  function snapshot() {
    const img = $('snapshot');
    img.onload = () => {
      $('overlay').setAttribute('viewBox', `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
      doc.image = {width: img.naturalWidth, height: img.naturalHeight};
      draw();
      document.body.dataset.ready = 'yes';
    };
    img.onerror = () => say('还没有画面 No frame from this camera yet; try again in a moment.');
    img.src = `${api}/${encodeURIComponent(cam.name)}/snapshot?t=${Date.now()}`;
  }

  async function save() {
    const r = await fetch(`${api}/${encodeURIComponent(cam.name)}/spaces`, {method: 'PUT',
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify(doc)});
    const body = await r.json();
    if (r.ok) {
      say(`已保存 ${body.saved} 个车位 Saved ${body.saved} spaces.`, true);
      cam.map = body.map;
    } else {
      const problems = body.detail && body.detail.problems ? body.detail.problems.join('\n') : JSON.stringify(body.detail);
      say(`未保存 Not saved:\n${problems}`);
    }
  }

  $('overlay').addEventListener('mousedown', (ev) => {
    if (placing) placeEntrance(point(ev));
    else if (drawing) { drawing.push(point(ev)); draw(); }
    else { select(-1); selectEntrance(-1); }
  });
  window.addEventListener('mousemove', (ev) => {
    if (drag !== null && selected >= 0) { doc.spaces[selected].polygon[drag] = point(ev); draw(); }
    if (dragEntrance && entrance >= 0) { doc.entrances[entrance].point = point(ev); draw(); }
  });
  window.addEventListener('mouseup', () => { drag = null; dragEntrance = false; });
  window.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && drawing) { ev.preventDefault(); finish(); }
    if (ev.key === 'Escape' && drawing) { drawing = null; $('finish').hidden = true; $('add').disabled = false; draw(); }
    if (ev.key === 'Escape' && placing) { placing = false; $('add-entrance').disabled = false; }
  });
  $('add').addEventListener('click', () => { drawing = []; $('finish').hidden = false; $('add').disabled = true; draw(); });
  $('finish').addEventListener('click', finish);
  $('refresh').addEventListener('click', async () => { await loadFaults(); showFault(); snapshot(); });
  $('camera').addEventListener('change', (ev) => show(ev.target.value));
  $('space-id').addEventListener('input', (ev) => {
    const to = ev.target.value.trim();
    renameSpace(doc.spaces[selected].id, to);
    doc.spaces[selected].id = to;
    draw();
  });
  $('space-zone').addEventListener('input', (ev) => { doc.spaces[selected].zone = ev.target.value.trim(); draw(); });
  $('delete').addEventListener('click', () => { dropSpace(doc.spaces[selected].id); doc.spaces.splice(selected, 1); select(-1); });
  $('add-entrance').addEventListener('click', () => {
    if (drawing) finish();
    placing = true;
    $('add-entrance').disabled = true;
    say('点击画面放置入口 Click the picture where the entrance is.', true);
  });
  $('entrance-id').addEventListener('input', (ev) => {
    const to = ev.target.value.trim();
    renameEntrance(doc.entrances[entrance].id, to);
    doc.entrances[entrance].id = to;
    draw();
  });
  $('delete-entrance').addEventListener('click', () => {
    if (doc.distances) delete doc.distances[doc.entrances[entrance].id];
    doc.entrances.splice(entrance, 1);
    selectEntrance(-1);
  });
  $('entrance-edit').addEventListener('submit', (ev) => ev.preventDefault());
  $('mpp').addEventListener('input', (ev) => {
    const v = parseFloat(ev.target.value);
    if (v > 0) doc.metres_per_pixel = v; else delete doc.metres_per_pixel;
  });
  $('edit').addEventListener('submit', (ev) => ev.preventDefault());
  $('save').addEventListener('click', save);
  load();
})();
