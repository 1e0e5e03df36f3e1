// askd's operator page: loads the state once, then keeps it live from /api/events (and a
// /api/status refresh every 5 s, which also samples the memory chart). Each view is a tab;
// only the visible one is redrawn, the others when they are shown.

import {api, ApiError, key, set_key, stream_events} from './api.js';
import {debounce, duration, bytes, colour} from './util.js';
import {render_models, render_aliases, render_config} from './views_models.js';
import {render_gpus, render_instances} from './views_memory.js';
import {render_requests, render_events} from './views_log.js';
import {render_peers, peers_of} from './views_peers.js';
import {render_charts, sample_memory} from './charts.js';

const k_views = ['models', 'gpus', 'instances', 'requests', 'events', 'config', 'charts'];
const k_requests_kept = 2000;
const k_events_kept = 1000;
const k_status_every_ms = 5000;

const state = {
  status: null, status_at: Date.now(), status_error: null,
  models: [], models_error: null,
  aliases: [], aliases_error: null,
  config: null, config_error: null,
  requests: [], requests_error: null, // newest first
  events: [], // newest first
  request_filter: {model: '', status: ''},
  selected_request: null,
  events_with_requests: false,
  memory_samples: [],
};

let view = 'models';
let session = null; // AbortController of the running session (fetches, stream, timers)
const dirty = new Set(k_views);

// --- drawing -----------------------------------------------------------------------------

const k_draw = {
  models: () => { render_models(state); render_peers(state); render_aliases(state, actions); },
  gpus: () => render_gpus(state),
  instances: () => render_instances(state, actions),
  requests: () => render_requests(state, actions),
  events: () => render_events(state),
  config: () => render_config(state),
  charts: () => render_charts(state),
};

let draw_pending = false;
// Mark views as changed; the visible one is redrawn at the end of this task.
function changed(...views) {
  for (const v of views) dirty.add(v);
  if (draw_pending) return;
  draw_pending = true;
  // A task, not a microtask: a burst of events read from one chunk (askd's history on
  // connecting) is drawn once.
  setTimeout(() => {
    draw_pending = false;
    if (dirty.delete(view)) k_draw[view]();
  }, 0);
}

function draw_summary() {
  const s = state.status;
  const parts = [];
  if (s?.managed) {
    const loaded = (s.instances ?? []).length;
    parts.push(`${loaded} instance${loaded === 1 ? '' : 's'}`);
    for (const g of s.gpus ?? []) parts.push(`${g.id} ${bytes(g.used_by_askd_bytes)} / ${bytes(g.cap_bytes)}`);
    if (s.queued) parts.push(`${s.queued} queued`);
  }
  parts.push(`${state.models.length} models`);
  const peers = peers_of(s);
  if (peers.length) parts.push(`${peers.filter((p) => p.state === 'up').length} of ${peers.length} peers up`);
  document.getElementById('summary').textContent = parts.join(' · ');
}

// --- tabs --------------------------------------------------------------------------------

function show(name, focus = false) {
  if (!k_views.includes(name)) name = 'models';
  view = name;
  for (const v of k_views) {
    const tab = document.getElementById(`tab-${v}`);
    const on = v === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    document.getElementById(`view-${v}`).hidden = !on;
  }
  if (focus) document.getElementById(`tab-${name}`).focus();
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  dirty.add(name);
  changed();
}

function wire_tabs() {
  const tabs = document.getElementById('tabs');
  tabs.addEventListener('click', (e) => {
    const tab = e.target.closest('[role=tab]');
    if (tab) show(tab.dataset.view);
  });
  tabs.addEventListener('keydown', (e) => {
    const i = k_views.indexOf(view);
    const to = {ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: k_views.length - 1}[e.key];
    if (to === undefined) return;
    e.preventDefault();
    show(k_views[(to + k_views.length) % k_views.length], true);
  });
  window.addEventListener('hashchange', () => show(location.hash.slice(1)));
}

// --- messages ----------------------------------------------------------------------------

let toast_timer = null;
function toast(text, kind = 'ok') {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.dataset.kind = kind;
  t.hidden = false;
  clearTimeout(toast_timer);
  toast_timer = setTimeout(() => { t.hidden = true; }, kind === 'bad' ? 10000 : 4000);
}

function set_conn(s, detail) {
  const c = document.getElementById('conn');
  c.dataset.state = s;
  c.textContent = {live: 'live', reconnecting: 'reconnecting…', unauthorized: 'key needed', connecting: 'connecting…', offline: 'offline'}[s] ?? s;
  c.title = detail ?? '';
}

// --- the API key -------------------------------------------------------------------------

function need_key(message) {
  if (session) session.abort();
  session = null;
  set_conn('unauthorized');
  // Nothing to show without a key: the views wait behind the form.
  document.body.dataset.locked = 'true';
  const auth = document.getElementById('auth');
  auth.hidden = false;
  document.getElementById('key-forget').hidden = !key();
  document.getElementById('auth-error').textContent = key() ? (message ?? 'askd refused this key.') : '';
  document.getElementById('key-input').focus();
}

function wire_key() {
  document.getElementById('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = document.getElementById('key-input');
    set_key(input.value.trim(), document.getElementById('key-remember').checked);
    input.value = '';
    document.getElementById('auth-error').textContent = '';
    start();
  });
  document.getElementById('key-forget').addEventListener('click', () => {
    set_key('');
    need_key();
  });
  document.getElementById('key-button').addEventListener('click', () => {
    const auth = document.getElementById('auth');
    auth.hidden = !auth.hidden;
    document.getElementById('key-forget').hidden = !key();
    if (!auth.hidden) document.getElementById('key-input').focus();
  });
}

// --- loading -----------------------------------------------------------------------------

// Fetch one part of the state; a 401 anywhere means the key is missing or wrong.
async function load(what, path, apply) {
  try {
    apply(await api(path, {signal: session?.signal}));
    state[`${what}_error`] = null;
  } catch (e) {
    if (e.name === 'AbortError') return;
    if (e instanceof ApiError && e.status === 401) throw e;
    state[`${what}_error`] = `Could not read ${path}: ${e.message}`;
  }
}

// Managed models take the first colours, in the config's order, so that a model keeps its
// colour from one visit to the next whichever view draws first.
function claim_colours(s) {
  for (const name of Object.keys(s?.models ?? {})) colour(name);
}

// A peer coming up or going down, or offering other models, changes /v1/models: read it again.
let peers_seen = '';
function watch_peers(s) {
  const now = JSON.stringify(peers_of(s).map((p) => [p.name, p.state, p.models]));
  if (now === peers_seen) return;
  const first = peers_seen === '';
  peers_seen = now;
  if (!first) refresh_names();
}

const load_status = () => load('status', '/api/status', (s) => {
  claim_colours(s);
  state.status = s;
  state.status_at = Date.now();
  watch_peers(s);
  sample_memory(state);
  draw_summary();
  changed('models', 'gpus', 'instances', 'charts');
});
const load_models = () => load('models', '/v1/models?state=1', (m) => {
  // Entries that are not objects (a peer's, relayed) are left out rather than drawn.
  state.models = Array.isArray(m?.data) ? m.data.filter((x) => x && typeof x === 'object' && x.id != null) : [];
  draw_summary();
  changed('models', 'requests');
  fill_model_filter();
});
const load_aliases = () => load('aliases', '/api/aliases', (a) => {
  state.aliases = a?.aliases ?? [];
  changed('models');
});
const load_config = () => load('config', '/api/config', (c) => {
  state.config = c;
  changed('config');
});
const load_requests = () => load('requests', '/api/requests?limit=200', (r) => {
  const seen = new Set(state.requests.map((x) => x.id));
  const older = (r?.requests ?? []).filter((x) => !seen.has(x.id)).reverse();
  state.requests = [...state.requests, ...older].sort((a, b) => b.ts - a.ts);
  fill_model_filter();
  changed('requests', 'charts');
});

const refresh_status = debounce(() => guarded(load_status), 200);
const refresh_names = debounce(() => guarded(() => Promise.all([load_models(), load_aliases()])), 200);

async function guarded(fn) {
  try {
    await fn();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) need_key(e.message);
  }
}

// Newest first by time; a line replayed from askd's history may be older than the ones shown.
function add_request(line) {
  if (state.requests.some((r) => r.id === line.id)) return;
  let at = 0;
  while (at < state.requests.length && state.requests[at].ts > line.ts) at++;
  state.requests.splice(at, 0, line);
  if (state.requests.length > k_requests_kept) state.requests.length = k_requests_kept;
  fill_model_filter();
}

function fill_model_filter() {
  const select = document.getElementById('filter-model');
  const names = new Set(state.models.map((m) => m.id));
  for (const r of state.requests) for (const n of [r.requested, r.served_by]) if (n) names.add(n);
  const have = new Set([...select.options].map((o) => o.value));
  for (const n of [...names].sort()) {
    if (!have.has(n)) select.append(new Option(n, n));
  }
}

// --- live updates ------------------------------------------------------------------------

function on_event(ev) {
  const d = ev.data;
  switch (ev.event) {
    case 'status':
      claim_colours(d);
      // Should the stream's status lack the peers that /api/status has, keep them until the
      // next /api/status read (every 5 s) says otherwise, rather than blink the panel away.
      if (d && typeof d === 'object' && d.peers === undefined && state.status?.peers !== undefined) d.peers = state.status.peers;
      state.status = d;
      state.status_at = Date.now();
      watch_peers(d);
      draw_summary();
      changed('models', 'gpus', 'instances');
      return;
    case 'request':
      add_request(d);
      refresh_status(); // its instance's in_flight and idle time changed
      break;
    case 'alias':
      refresh_names();
      break;
    case 'pin':
      if (state.status?.models?.[d.model]) state.status.models[d.model].pinned = d.pinned;
      changed('models', 'instances');
      break;
    case 'reload':
      refresh_names();
      guarded(load_config);
      refresh_status();
      break;
    default:
      refresh_status();
  }
  state.events.unshift(ev);
  if (state.events.length > k_events_kept) state.events.length = k_events_kept;
  changed('events', ev.event === 'request' ? 'requests' : 'events', 'charts');
}

// --- actions -----------------------------------------------------------------------------

const actions = {
  async model_action(name, what) {
    try {
      const r = await api(`/api/models/${encodeURIComponent(name)}/${what}`, {method: 'POST'});
      const text = {load: `${name}: ${r?.status ?? 'loading'}`, unload: `${name}: unloading ${r?.instances ?? ''} instance(s)`,
        pin: `${name} pinned: it stays loaded`, unpin: `${name} unpinned`}[what];
      toast(text);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return need_key(e.message);
      toast(`${what} ${name}: ${e.message}`, 'bad');
    }
    refresh_status();
  },
  async delete_alias(name) {
    const error = document.getElementById('alias-error');
    try {
      const r = await api(`/api/aliases/${encodeURIComponent(name)}`, {method: 'DELETE'});
      error.textContent = '';
      toast(r?.model ? `${name} deleted; the config file's ${name} → ${r.model} is back` : `alias ${name} deleted`);
      document.getElementById('alias-name').focus();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return need_key(e.message);
      error.textContent = e.message;
    }
    refresh_names();
  },
  select_request(id) {
    state.selected_request = state.selected_request === id ? null : id;
    changed('requests');
  },
};

function wire_forms() {
  document.getElementById('alias-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = document.getElementById('alias-name');
    const model = document.getElementById('alias-target');
    const error = document.getElementById('alias-error');
    try {
      const r = await api(`/api/aliases/${encodeURIComponent(name.value.trim())}`, {method: 'PUT', body: {model: model.value.trim()}});
      error.textContent = '';
      toast(`alias ${r?.name ?? name.value} → ${r?.model ?? model.value}`);
      name.value = '';
      model.value = '';
      name.focus();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return need_key(err.message);
      error.textContent = err.message;
    }
    refresh_names();
  });
  for (const form of document.querySelectorAll('form.filters')) form.addEventListener('submit', (e) => e.preventDefault());
  document.getElementById('filter-model').addEventListener('change', (e) => {
    state.request_filter.model = e.target.value;
    changed('requests');
  });
  document.getElementById('filter-status').addEventListener('change', (e) => {
    state.request_filter.status = e.target.value;
    changed('requests');
  });
  document.getElementById('events-requests').addEventListener('change', (e) => {
    state.events_with_requests = e.target.checked;
    changed('events');
  });
}

// Count down keep_alive and count up uptime between refreshes without redrawing tables.
function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll('[data-deadline]')) {
    node.textContent = `${node.dataset.prefix}${duration((Number(node.dataset.deadline) - now) / 1000)}${node.dataset.suffix}`;
  }
  for (const node of document.querySelectorAll('[data-since]')) {
    node.textContent = duration((now - Number(node.dataset.since)) / 1000);
  }
}

// --- the session -------------------------------------------------------------------------

async function start() {
  if (session) session.abort();
  session = new AbortController();
  const {signal} = session;
  set_conn('connecting');
  try {
    // /health needs no key and says whether calls do: without one the form comes up
    // before any call is refused. A wrong key is learnt from askd's refusal of the first call.
    const health = await api('/health', {signal});
    if (health?.api_key_required && !key()) return need_key();
    await load_status();
    if (signal.aborted) return;
    await Promise.all([load_models(), load_aliases(), load_config(), load_requests()]);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return need_key(e.message);
    throw e;
  }
  if (signal.aborted) return;
  document.getElementById('auth').hidden = true;
  delete document.body.dataset.locked;
  document.getElementById('key-button').hidden = !key();
  changed(...k_views);
  stream_events({
    signal,
    on_event,
    on_state: (s, detail) => {
      set_conn(s, detail);
      if (s === 'unauthorized') need_key();
      if (s === 'live') refresh_status();
    },
  });
  const every = setInterval(() => guarded(load_status), k_status_every_ms);
  signal.addEventListener('abort', () => clearInterval(every));
}

wire_tabs();
wire_key();
wire_forms();
setInterval(tick, 1000);
show(location.hash.slice(1) || 'models');
start();
