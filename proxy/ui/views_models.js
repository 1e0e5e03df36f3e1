// The models view (logical models, aliases, councils, their state), the alias editor and
// the config view.

import {el, replace, bytes, duration} from './util.js';
import {list, text, peer_state} from './views_peers.js';

// What a logical model is doing now. Managed models read /api/status's instances (starting =
// loading, ready with nothing in flight = idle with its keep_alive left); Ollama and OpenAI
// backends say loaded / not loaded / unreachable in /v1/models?state=1, a peer's models
// available / unreachable (or, from an askd that does not say, the peer's own state).
export function model_state(state, name, entry) {
  const s = state.status;
  if (s?.managed && s.unavailable?.[name] !== undefined) {
    return {text: 'unavailable', cls: 'bad', title: s.unavailable[name]};
  }
  if (s?.managed && s.models?.[name]) {
    const mine = (s.instances ?? []).filter((i) => i.model === name);
    const pinned = s.models[name].pinned ? ' · pinned' : '';
    if (mine.some((i) => i.state === 'starting')) return {text: `loading${pinned}`, cls: 'warn'};
    const ready = mine.filter((i) => i.state === 'ready');
    if (ready.length > 0) {
      const busy = ready.reduce((n, i) => n + (i.in_flight ?? 0), 0);
      if (busy > 0) return {text: `busy · ${busy} in flight${pinned}`, cls: 'ok'};
      const expiring = ready.map((i) => i.expires_in_s).filter((x) => x !== null && x !== undefined);
      if (expiring.length === 0) return {text: `idle · stays loaded${pinned}`, cls: 'ok'};
      return {
        text: `idle · unloads in ${duration(Math.max(...expiring))}${pinned}`,
        cls: 'ok',
        deadline: state.status_at + Math.max(...expiring) * 1000,
        prefix: 'idle · unloads in ',
        suffix: pinned,
      };
    }
    if (mine.some((i) => i.state === 'stopping')) return {text: 'stopping', cls: 'warn'};
    return {text: `not loaded${pinned}`, cls: 'dim'};
  }
  if (entry?.peer !== undefined && entry?.peer !== null && typeof entry.state !== 'string') {
    const peer = peer_state(s, text(entry.peer));
    return {text: `peer ${peer}`, cls: {up: 'ok', down: 'bad', loop: 'warn'}[peer] ?? 'dim',
      title: peer === 'unknown' ? 'askd has not asked this peer yet' : null};
  }
  if (typeof entry?.state === 'string' && entry.state) {
    const cls = {loaded: 'ok', available: 'ok', unreachable: 'bad'}[entry.state] ?? 'dim';
    const until = entry.expires_at ? ` until ${new Date(entry.expires_at).toLocaleTimeString([], {hour12: false})}` : '';
    const vram = entry.size_vram ? ` · ${bytes(entry.size_vram)}` : '';
    return {text: `${entry.state}${entry.state === 'loaded' ? until + vram : ''}`, cls, title: text(entry.state_error) || null};
  }
  return {text: 'not tracked', cls: 'dim', title: 'its backend does not say which models it has loaded'};
}

export function state_badge(st) {
  const attrs = {class: `badge ${st.cls}`, title: st.title, 'data-state': st.cls};
  if (st.deadline) {
    attrs['data-deadline'] = Math.round(st.deadline);
    attrs['data-prefix'] = st.prefix;
    attrs['data-suffix'] = st.suffix ?? '';
  }
  return el('span', attrs, st.text);
}

function kind_of(entry) {
  if (entry.council) return 'council';
  if (entry.alias_of) return 'alias';
  return 'model';
}

export function render_models(state) {
  const body = document.getElementById('models-body');
  const rows = [];
  for (const m of state.models) {
    const kind = kind_of(m);
    const target = m.alias_of ? state.models.find((x) => x.id === m.alias_of && !x.alias_of) : null;
    const st = model_state(state, m.alias_of ?? m.id, target ?? m);
    // A peer's entries carry what the other machine said: lists are checked before use.
    const caps = list(m.capabilities).map(text);
    const fallbacks = list(m.fallbacks).map(text);
    const peer = m.peer !== undefined && m.peer !== null ? text(m.peer) : null;
    rows.push(el('tr', {'data-testid': 'model-row', 'data-model': m.id, 'data-kind': kind, 'data-peer': peer},
      el('th', {scope: 'row'}, m.id, m.description ? el('div', {class: 'sub'}, m.description) : null),
      el('td', {}, kind === 'council' ? el('span', {class: 'hint'}, 'asks its members') : state_badge(st),
        st.cls === 'bad' && st.title ? el('div', {class: 'sub why'}, st.title) : null),
      el('td', {}, kind === 'alias' ? el('span', {}, 'alias → ', el('b', {}, m.alias_of)) : kind),
      el('td', {'data-testid': 'model-backend'}, peer !== null
        ? [`peer ${peer}`, m.peer_model && text(m.peer_model) !== m.id ? el('div', {class: 'sub'}, `as ${text(m.peer_model)}`) : null]
        : m.backend ?? (m.council ? 'askd' : '—')),
      el('td', {class: 'num'}, Number.isFinite(m.context_length) && m.context_length > 0 ? m.context_length.toLocaleString() : '—'),
      el('td', {}, caps.length ? caps.map((c) => el('span', {class: 'chip'}, c)) : '—'),
      el('td', {}, fallbacks.length ? fallbacks.join(' → ') : '—')));
  }
  if (rows.length === 0) rows.push(empty_row(7, state.models_error ?? 'No models.'));
  replace(body, rows);
  const names = state.models.filter((m) => !m.alias_of).map((m) => text(m.id));
  replace(document.getElementById('alias-targets'), names.map((n) => el('option', {value: n})));
}

export function render_aliases(state, actions) {
  const body = document.getElementById('aliases-body');
  const rows = state.aliases.map((a) =>
    el('tr', {'data-testid': 'alias-row', 'data-alias': a.name, 'data-source': a.source},
      el('th', {scope: 'row'}, a.name),
      el('td', {}, a.model ?? '—', a.config_model && a.config_model !== a.model
        ? el('span', {class: 'sub'}, ` (config file: ${a.config_model})`) : null),
      el('td', {}, el('span', {class: `badge ${a.source === 'runtime' ? 'warn' : 'dim'}`}, a.source)),
      el('td', {}, a.source === 'runtime'
        ? el('button', {type: 'button', class: 'small', 'data-testid': 'alias-delete',
          'data-focus': `alias-delete-${a.name}`, 'aria-label': `Delete alias ${a.name}`,
          onclick: () => actions.delete_alias(a.name)}, 'Delete')
        : el('span', {class: 'hint'}, 'in config file'))));
  if (rows.length === 0) rows.push(empty_row(4, state.aliases_error ?? 'No aliases.'));
  replace(body, rows);
}

export function render_config(state) {
  const pre = document.getElementById('config-body');
  pre.textContent = state.config_error ?? (state.config ? JSON.stringify(state.config, null, 2) : 'loading…');
}

export function empty_row(span, text) {
  return el('tr', {class: 'empty'}, el('td', {colspan: span}, text));
}
