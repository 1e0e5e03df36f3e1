// The charts view, drawn by hand in SVG: memory used per device over time (sampled with
// each /api/status), requests and fallbacks per minute, and tokens per second per model
// (both from the request log), over the last 30 minutes.

import {el, replace, bytes, colour} from './util.js';
import {tokens_per_s, fell_back} from './views_log.js';

const k_window_s = 30 * 60;
const k_height = 190;
const k_pad = {left: 64, right: 12, top: 10, bottom: 24};

const svg = (tag, attrs, ...children) => el(`svg:${tag}`, attrs, ...children);

// 1, 2 or 5 times a power of ten, at least max / 4: four tick steps cover the data.
function nice_step(max) {
  if (!(max > 0)) return 1;
  const raw = max / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
}

function hhmm(t_s) {
  return new Date(t_s * 1000).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', hour12: false});
}

// A frame with y ticks (formatted by fmt, stepped in `unit`s) and time ticks; returns the
// svg and the x / y scales for the marks.
function frame(width, x0, x1, y_max, fmt, unit = 1) {
  const step = nice_step(y_max / unit) * unit;
  const top = Math.max(step, Math.ceil(y_max / step) * step);
  const w = width - k_pad.left - k_pad.right;
  const h = k_height - k_pad.top - k_pad.bottom;
  const x = (t) => k_pad.left + ((t - x0) / (x1 - x0 || 1)) * w;
  const y = (v) => k_pad.top + h - (v / top) * h;
  const root = svg('svg', {width, height: k_height, viewBox: `0 0 ${width} ${k_height}`, class: 'chart', role: 'img'});
  for (let v = 0; v <= top + step / 2; v += step) {
    root.append(svg('line', {x1: k_pad.left, x2: width - k_pad.right, y1: y(v), y2: y(v), class: 'gridline'}),
      svg('text', {x: k_pad.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick'}, v === 0 ? '0' : fmt(v)));
  }
  const span = x1 - x0;
  const t_step = [60, 120, 300, 600, 900, 1800, 3600].find((s) => span / s <= Math.max(2, w / 90)) ?? 3600;
  for (let t = Math.ceil(x0 / t_step) * t_step; t <= x1; t += t_step) {
    root.append(svg('text', {x: x(t), y: k_height - 6, 'text-anchor': 'middle', class: 'tick'}, hhmm(t)));
  }
  root.append(svg('line', {x1: k_pad.left, x2: width - k_pad.right, y1: y(0), y2: y(0), class: 'axis'}));
  return {root, x, y, top};
}

function legend(items) {
  return el('ul', {class: 'legend'}, items.map(([name, style, text]) =>
    el('li', {}, el('span', {class: 'swatch', style}), text ?? name)));
}

function no_data(text) {
  return el('p', {class: 'hint chart-empty'}, text);
}

// One small chart per device, each on its own scale (a GPU's 8 GiB beside host memory's
// 64 GiB would be a flat line otherwise), with its cap dashed.
function memory_chart(state, width) {
  const samples = state.memory_samples;
  if (samples.length < 2) return no_data('Sampled with every status refresh (every 5 s); two samples make a line.');
  const now = Date.now() / 1000;
  const x0 = Math.max(now - k_window_s, Math.min(samples[0].t, now - 300));
  const shown = samples.filter((s) => s.t >= x0);
  const last = shown[shown.length - 1];
  const devices = [...new Set(shown.flatMap((s) => Object.keys(s.used)))];
  const each = devices.length > 1 && width >= 700 ? Math.floor((width - 12 * (devices.length - 1)) / Math.min(devices.length, 3)) : width;
  return el('div', {class: 'multiples'}, devices.map((d) => {
    const cap = last.caps[d];
    const max = Math.max(1, cap ?? 0, ...shown.map((s) => s.used[d] ?? 0));
    const {root, x, y} = frame(each, x0, now, max, (v) => bytes(v).replace(/\.0+ /, ' '), max >= 1024 ** 3 ? 1024 ** 3 : 1024 ** 2);
    const c = colour(`device:${d}`);
    if (cap != null) root.append(svg('line', {x1: x(x0), x2: x(now), y1: y(cap), y2: y(cap), class: 'cap', style: `stroke:${c}`}));
    // A step line: memory holds its value until the next sample.
    let pts = '';
    let prev = null;
    for (const s of shown) {
      const v = s.used[d] ?? 0;
      if (prev !== null) pts += `${x(s.t).toFixed(1)},${y(prev).toFixed(1)} `;
      pts += `${x(s.t).toFixed(1)},${y(v).toFixed(1)} `;
      prev = v;
    }
    pts += `${x(now).toFixed(1)},${y(prev).toFixed(1)}`;
    root.append(svg('polyline', {points: pts, class: 'series', style: `stroke:${c}`}));
    root.setAttribute('aria-label', `${d}: ${bytes(last.used[d])} used by askd${cap != null ? ` of ${bytes(cap)} cap` : ''}`);
    return el('div', {'data-testid': 'memory-chart', 'data-device': d}, root,
      legend([[d, `background:${c}`, `${d === 'host' ? 'host memory' : d}: ${bytes(last.used[d])}${cap != null ? ` of ${bytes(cap)} cap (dashed)` : ''}`]]));
  }));
}

function per_minute(requests, now) {
  const first = Math.floor((now - k_window_s) / 60);
  const buckets = new Map();
  for (const r of requests) {
    const m = Math.floor(r.ts / 60);
    if (m < first) continue;
    if (!buckets.has(m)) buckets.set(m, []);
    buckets.get(m).push(r);
  }
  return buckets;
}

function requests_chart(state, width) {
  const now = Date.now() / 1000;
  const buckets = per_minute(state.requests, now);
  if (buckets.size === 0) return no_data('No request in the last 30 minutes.');
  const x1 = Math.ceil(now / 60) * 60;
  const x0 = x1 - k_window_s;
  let max = 1;
  for (const list of buckets.values()) max = Math.max(max, list.length);
  const {root, x, y} = frame(width, x0, x1, max, (v) => String(Math.round(v)));
  const bar = Math.max(2, x(60) - x(0) - 2);
  let total = 0;
  let fallbacks = 0;
  for (const [m, list] of buckets) {
    const fb = list.filter(fell_back).length;
    total += list.length;
    fallbacks += fb;
    const left = x(m * 60) + 1;
    root.append(svg('rect', {x: left, width: bar, y: y(list.length), height: y(0) - y(list.length), class: 'bar-req'},
      svg('title', {}, `${hhmm(m * 60)}: ${list.length} requests, ${fb} fell back`)));
    if (fb > 0) root.append(svg('rect', {x: left, width: bar, y: y(fb), height: y(0) - y(fb), class: 'bar-fb'}));
  }
  root.setAttribute('aria-label', `${total} requests in the last 30 minutes, ${fallbacks} fell back`);
  return [root, legend([['requests', 'background:var(--accent)', `requests (${total})`],
    ['fallbacks', 'background:var(--warn)', `fell back (${fallbacks})`]])];
}

function tokens_chart(state, width) {
  const now = Date.now() / 1000;
  const buckets = per_minute(state.requests.filter((r) => r.served_by && tokens_per_s(r) != null), now);
  if (buckets.size === 0) return no_data('No answered request with a token count in the last 30 minutes.');
  const series = new Map(); // model → [[minute, mean tok/s]]
  for (const [m, list] of [...buckets].sort((a, b) => a[0] - b[0])) {
    const by_model = new Map();
    for (const r of list) {
      if (!by_model.has(r.served_by)) by_model.set(r.served_by, []);
      by_model.get(r.served_by).push(tokens_per_s(r));
    }
    for (const [model, v] of by_model) {
      if (!series.has(model)) series.set(model, []);
      series.get(model).push([m * 60 + 30, v.reduce((a, b) => a + b, 0) / v.length]);
    }
  }
  const max = Math.max(1, ...[...series.values()].flat().map((p) => p[1]));
  const x1 = Math.ceil(now / 60) * 60;
  const {root, x, y} = frame(width, x1 - k_window_s, x1, max, (v) => v.toFixed(v < 10 ? 1 : 0));
  for (const [model, pts] of series) {
    const c = colour(model);
    root.append(svg('polyline', {points: pts.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' '), class: 'series', style: `stroke:${c}`}));
    for (const [t, v] of pts) {
      root.append(svg('circle', {cx: x(t), cy: y(v), r: 3, style: `fill:${c}`}, svg('title', {}, `${model} ${hhmm(t)}: ${v.toFixed(1)} tok/s`)));
    }
  }
  root.setAttribute('aria-label', `Tokens per second: ${[...series].map(([m, p]) => `${m} ${p[p.length - 1][1].toFixed(1)}`).join(', ')}`);
  return [root, legend([...series].map(([m, p]) => [m, `background:${colour(m)}`, `${m} ${p[p.length - 1][1].toFixed(1)} tok/s`]))];
}

export function render_charts(state) {
  for (const [id, draw] of [['chart-memory', memory_chart], ['chart-requests', requests_chart], ['chart-tokens', tokens_chart]]) {
    const box = document.getElementById(id);
    const width = Math.max(280, Math.floor(box.clientWidth || 600));
    replace(box, draw(state, width));
  }
}

// Record one sample of memory used per device (and the caps) from a /api/status.
export function sample_memory(state) {
  const s = state.status;
  if (!s?.managed) return;
  const used = {};
  const caps = {};
  for (const g of s.gpus ?? []) {
    used[g.id] = g.used_by_askd_bytes ?? 0;
    caps[g.id] = g.cap_bytes;
  }
  if (s.host) {
    used.host = s.host.used_by_askd_bytes ?? 0;
    caps.host = s.host.cap_bytes;
  }
  state.memory_samples.push({t: Date.now() / 1000, used, caps});
  const keep_from = Date.now() / 1000 - k_window_s - 60;
  while (state.memory_samples.length > 2 && state.memory_samples[0].t < keep_from) state.memory_samples.shift();
}
