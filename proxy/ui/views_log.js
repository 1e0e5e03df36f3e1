// The requests view (the request log, newest first, filterable, a request's attempts on
// click) and the events view (the scheduler's, aliases' and pins' events, newest first).

import {el, replace, bytes, clock, seconds} from './util.js';
import {empty_row} from './views_models.js';
import {peer_label} from './views_peers.js';

const k_rows_shown = 300;

// Generation speed of one request: the completion's tokens over the time after the first
// token when streamed, else over the time the serving backend took: served_s counts from its
// attempt's start, a llama-server's load included, so the load is taken off (load_s may also
// hold an earlier attempt's load: then the whole served_s stands).
export function tokens_per_s(r) {
  const c = r.completion_tokens;
  if (!c) return null;
  let t;
  if (r.ttft_s != null && r.latency_s > r.ttft_s) {
    t = r.latency_s - r.ttft_s;
  } else if (r.served_s > 0) {
    const generating = r.served_s - (r.load_s ?? 0);
    t = generating > 0 ? generating : r.served_s;
  } else {
    t = r.latency_s - (r.queue_s ?? 0) - (r.load_s ?? 0);
  }
  return t > 0 ? c / t : null;
}

export function fell_back(r) {
  return (Array.isArray(r.fallback_path) && r.fallback_path.length > 1) || (Array.isArray(r.attempts) && r.attempts.length > 0);
}

function matches(r, f) {
  if (f.model && r.requested !== f.model && r.model !== f.model && r.served_by !== f.model) return false;
  switch (f.status) {
    case 'ok': return r.status >= 200 && r.status < 300;
    case '4xx': return r.status >= 400 && r.status < 500;
    case '5xx': return r.status >= 500;
    case 'fallback': return fell_back(r);
    default: return true;
  }
}

// "a (connect) → b": each model tried, with why it failed, the one that served last; a
// peer's attempt labelled "model@peer".
function path_of(r) {
  const path = Array.isArray(r.fallback_path) ? r.fallback_path : [];
  const attempts = Array.isArray(r.attempts) ? r.attempts : [];
  if (path.length <= 1 && !attempts.length) return '—';
  if (!path.length) return '—';
  const served = r.served_by ? path.length - 1 : path.length;
  return path.flatMap((m, i) => {
    const failed = i < served ? attempts.find((a) => a?.model === m) : null;
    return [i > 0 ? ' → ' : null, peer_label(m), failed ? ` (${failed.reason})` : null];
  });
}

function status_class(code) {
  return code >= 500 ? 'bad' : code >= 400 ? 'warn' : 'ok';
}

export function render_requests(state, actions) {
  const f = state.request_filter;
  const shown = state.requests.filter((r) => matches(r, f)).slice(0, k_rows_shown);
  const rows = shown.map((r) => {
    const tps = tokens_per_s(r);
    const selected = state.selected_request === r.id;
    return el('tr', {'data-testid': 'request-row', 'data-request-id': r.id, 'data-model': r.requested, 'data-served-by': r.served_by || null,
      'data-status': r.status, class: selected ? 'selected' : null,
      onclick: () => actions.select_request(r.id)},
    el('td', {class: 'time'}, clock(r.ts)),
    el('td', {}, el('button', {type: 'button', class: 'link', 'data-focus': `req-${r.id}`,
      'aria-label': `Show request ${r.id}`, 'aria-expanded': selected ? 'true' : 'false', 'aria-controls': 'request-detail',
      onclick: (e) => { e.stopPropagation(); actions.select_request(r.id); }}, short_id(r.id))),
    el('td', {}, r.requested ?? '—'),
    el('td', {}, r.served_by ? peer_label(r.served_by) : '—'),
    el('td', {class: 'num'}, el('span', {class: `badge ${status_class(r.status)}`, title: r.error || null}, r.status)),
    el('td', {class: 'num'}, seconds(r.latency_s)),
    el('td', {class: 'num', title: 'prompt → completion'}, r.prompt_tokens != null ? `${r.prompt_tokens} → ${r.completion_tokens ?? '?'}` : '—'),
    el('td', {class: 'num'}, tps != null ? tps.toFixed(1) : '—'),
    el('td', {class: fell_back(r) ? 'fallback' : null}, path_of(r)),
    el('td', {}, r.api ?? '—'));
  });
  replace(document.getElementById('requests-body'), rows.length ? rows : empty_row(10, state.requests_error ?? 'No request yet.'));
  document.getElementById('requests-count').textContent =
    `${shown.length} shown of ${state.requests.length} kept`;
  render_request_detail(state, actions);
}

// Request ids are ULIDs: the head is the time (shown beside it), the tail tells them apart.
function short_id(id) {
  return id && id.length > 10 ? `…${id.slice(-8)}` : id ?? '—';
}

function render_request_detail(state, actions) {
  const aside = document.getElementById('request-detail');
  const r = state.requests.find((x) => x.id === state.selected_request);
  if (!r) {
    aside.hidden = true;
    return;
  }
  aside.hidden = false;
  const facts = [
    ['id', r.id], ['time', new Date(r.ts * 1000).toLocaleString()], ['api', r.api], ['client', r.client],
    ['asked for', r.requested], ['model', r.model], ['served by', r.served_by || '—'],
    ['fallback path', (r.fallback_path ?? []).join(' → ') || '—'], ['status', r.status],
    ['stream', r.stream ? 'yes' : 'no'], ['latency', seconds(r.latency_s)], ['first token', seconds(r.ttft_s)],
 ['queued', seconds(r.queue_s)], ['loading', seconds(r.load_s)],
    ...(r.served_s != null ? [['serving', seconds(r.served_s)]] : []),
    ['tokens', `${r.prompt_tokens ?? '?'} prompt, ${r.completion_tokens ?? '?'} completion`],
  ];
  if (r.error) facts.push(['error', r.error]);
  // "fast-9b,-": who served each member, "-" for one that failed (X-Council-Members).
  if (r.council_members) facts.push(['council', r.council_members]);
  for (const e of r.member_errors ?? []) facts.push(['member failed', e]);
  const attempts = r.attempts ?? [];
  replace(aside,
    el('header', {},
      el('h2', {}, 'Request'),
      el('button', {type: 'button', class: 'small quiet', 'aria-label': 'Close request details',
        onclick: () => actions.select_request(null)}, 'Close')),
    el('dl', {class: 'kv'}, facts.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, String(v ?? '—'))))),
    el('h3', {}, `Failed attempts (${attempts.length})`),
    attempts.length
      ? el('ol', {class: 'attempts', 'data-testid': 'attempts'}, attempts.map((a) => el('li', {},
        el('b', {}, a.model), ` on ${a.backend} `, el('span', {class: 'badge warn'}, a.reason),
        a.seconds != null ? ` after ${seconds(a.seconds)}` : '', a.message ? el('div', {class: 'sub'}, a.message) : null)))
      : el('p', {class: 'hint'}, r.status < 400 ? 'Served by the first model tried.' : 'No model was tried.'));
}

function event_detail(ev) {
  const d = ev.data ?? {};
  switch (ev.event) {
    case 'alias':
      return d.model == null ? `${d.name} deleted${d.previous ? ` (was → ${d.previous})` : ''}`
        : `${d.name} → ${d.model}${d.previous ? ` (was → ${d.previous})` : ''} · ${d.source ?? ''}`;
    case 'pin':
      return d.pinned ? 'pinned: stays loaded' : 'unpinned';
    case 'calibrated':
      return `measured ${bytes(d.measured_bytes)} vs estimated ${bytes(d.estimated_bytes)}`;
    case 'reload':
      return [d.applied?.length ? `applied: ${[].concat(d.applied).join(', ')}` : '',
        d.restart?.length ? `needs restart: ${[].concat(d.restart).join(', ')}` : '',
        d.problems?.length ? `problems: ${[].concat(d.problems).join('; ')}` : ''].filter(Boolean).join(' · ') || 'config reloaded';
    case 'request':
      return `${d.requested} → ${d.served_by || '—'} · ${d.status} · ${seconds(d.latency_s)}`;
    case 'peer':
      return `peer ${d.peer ?? '?'} is ${d.state ?? '?'}${d.detail ? `: ${d.detail}` : ''}`;
    default:
      return d.detail ?? '';
  }
}

// The label an event's badge shows: evictions are stops, but the reason is what matters.
export function event_label(ev) {
  const detail = String(ev.data?.detail ?? '');
  if (ev.event === 'stop' && detail.startsWith('evicted')) return 'evicted';
  if (ev.event === 'peer' && ['up', 'down', 'loop'].includes(ev.data?.state)) return `peer ${ev.data.state}`;
  return ev.event;
}

const k_event_class = {load: 'dim', ready: 'ok', stop: 'dim', evicted: 'warn', exit: 'warn', crash: 'bad',
  load_failed: 'bad', cannot_place: 'bad', calibrated: 'dim', alias: 'info', pin: 'info', reload: 'info', request: 'dim',
  'peer up': 'ok', 'peer down': 'bad', 'peer loop': 'warn'};

export function render_events(state) {
  const with_requests = state.events_with_requests;
  const shown = state.events.filter((e) => with_requests || e.event !== 'request').slice(0, k_rows_shown);
  const rows = shown.map((ev) => {
    const label = event_label(ev);
    const d = ev.data ?? {};
    return el('tr', {'data-testid': 'event-row', 'data-kind': ev.event, 'data-label': label,
      'data-model': d.model ?? d.name ?? d.requested ?? d.peer ?? null, 'data-id': ev.id, class: label === 'evicted' ? 'evicted' : null},
    el('td', {class: 'time'}, clock(d.time ?? d.ts)),
    el('td', {}, el('span', {class: `badge ${k_event_class[label] ?? 'dim'}`}, label)),
    el('td', {}, ev.event === 'alias' ? d.name : ev.event === 'peer' ? `peer ${d.peer ?? '?'}` : d.model ?? d.requested ?? '—'),
    el('td', {class: 'num'}, d.instance ?? '—'),
    el('td', {class: 'detail-text'}, event_detail(ev)));
  });
  replace(document.getElementById('events-body'), rows.length ? rows : empty_row(5, 'No event since the page opened.'));
  document.getElementById('events-count').textContent = `${shown.length} shown`;
}
