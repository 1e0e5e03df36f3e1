// Small helpers the views share: building DOM without innerHTML (model names and request
// fields come from the network), and formatting bytes, durations and times.

// el('td', {class: 'num', 'data-testid': 'x', onclick: f}, 'text', child, [more]) → element.
export function el(tag, attrs, ...children) {
  const svg = tag.startsWith('svg:');
  const node = svg
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      node.addEventListener(k.slice(2), v);
    } else if (k === 'style') {
      // Through the CSSOM: askd's Content-Security-Policy (style-src 'self') refuses style
      // attributes, but not styles set from a script.
      node.style.cssText = v;
    } else if (k === 'text') {
      node.textContent = v;
    } else {
      node.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : String(c));
  }
}

// Replace a container's children, keeping keyboard focus on the element with the same
// data-focus key (a live refresh must not throw the user's focus back to <body>).
export function replace(container, ...children) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.getAttribute('data-focus') : null;
  container.replaceChildren();
  append(container, children);
  if (key) {
    const again = container.querySelector(`[data-focus="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

const k_gib = 1024 ** 3;
const k_mib = 1024 ** 2;

export function bytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  if (Math.abs(n) >= k_gib) return `${(n / k_gib).toFixed(n >= 100 * k_gib ? 0 : 2)} GiB`;
  const mib = n / k_mib;
  return `${mib.toFixed(mib >= 100 ? 0 : mib >= 10 ? 1 : 2)} MiB`;
}

export function duration(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return '—';
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor(s / 3600) % 24}h`;
}

export function seconds(s) {
  if (s === null || s === undefined) return '—';
  return s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;
}

// Unix seconds → local HH:MM:SS.
export function clock(ts) {
  if (!ts) return '—';
  const d = new Date(ts * 1000);
  return d.toLocaleTimeString([], {hour12: false});
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One colour per name for the whole page (charts, bar segments and legends agree), handed
// out in order of first use so the first eight names never share one.
const k_colours = new Map();
export function colour(name) {
  if (!k_colours.has(name)) k_colours.set(name, k_colours.size % 8);
  return `var(--c${k_colours.get(name)})`;
}
