// askd's peers (backends of kind "askd": other askd machines) in the models view: a card per
// peer with its state, its last error, when it is asked again, the models it offers here,
// the names it was not given (shadowed) and the remote machine's GPUs. The peers come from
// /api/status's "peers", which another askd (or an older one) may not send, and whose remote
// part is read from the other machine: every field is checked before it is used.

import {el, replace, bytes, duration} from './util.js';

const k_peer_class = {up: 'ok', down: 'bad', loop: 'warn', unknown: 'dim'};
const k_peer_why = {
  up: 'answering; its models are offered here',
  down: 'not answering; its models are offered as unreachable and it is asked again after a backoff',
  loop: 'its URL is this askd itself: it is never asked',
  unknown: 'not asked yet',
};

export const list = (x) => (Array.isArray(x) ? x : []);
export const number = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
// A string as it is, a number or boolean written out, anything else (null, an object) as ''.
export const text = (x) => (typeof x === 'string' ? x : ['number', 'boolean'].includes(typeof x) ? String(x) : '');
const size = (x) => (number(x) !== null && x >= 0 ? x : null);
const object = (x) => (x && typeof x === 'object' && !Array.isArray(x) ? x : null);

// The peers of a status, each with its fields checked; [] for an askd without peers.
export function peers_of(status) {
  return list(object(status)?.peers).map(object).filter((p) => p && text(p.name) !== '').map((p) => ({
    name: text(p.name),
    url: text(p.url),
    prefix: text(p.prefix),
    peer_fallback: p.peer_fallback === true,
    state: Object.hasOwn(k_peer_class, p.state) ? p.state : 'unknown',
    since_s: number(p.since_s),
    last_error: text(p.last_error),
    failures: number(p.failures) ?? 0,
    next_probe_in_s: number(p.next_probe_in_s),
    models: list(p.models).map(text).filter(Boolean),
    shadowed: list(p.shadowed).map(text).filter(Boolean),
    skipped: list(p.skipped).map(text).filter(Boolean), // "x@y: its name has '@'"

    remote: object(p.remote),
  }));
}

// The state of a peer by name ('unknown' when the status does not list it).
export function peer_state(status, name) {
  return peers_of(status).find((p) => p.name === name)?.state ?? 'unknown';
}

// "coder-30b@box2" → ["coder-30b", "@box2"]: a label of a request served by a peer (the
// peer's own label, then "@" and the peer's name here; "@box3@box2" through two peers).
export function split_peer_label(label) {
  const s = text(label);
  const at = s.indexOf('@');
  return at > 0 ? [s.slice(0, at), s.slice(at)] : [s, ''];
}

// A served-by or path label: a peer's part muted, the whole kept on one line.
export function peer_label(label) {
  const [model, via] = split_peer_label(label);
  if (!via) return model;
  return el('span', {class: 'via-peer', title: `${model} on the peer ${via.slice(1).split('@').join(' via ')}`},
    model, el('span', {class: 'peer-at'}, via));
}

function names(list_of, testid, empty) {
  if (!list_of.length) return el('p', {class: 'hint', 'data-testid': testid}, empty);
  return el('ul', {class: 'names', 'data-testid': testid}, list_of.map((n) => el('li', {}, el('span', {class: 'chip'}, n))));
}

function remote_gpus(remote) {
  if (!remote) return el('p', {class: 'hint', 'data-testid': 'peer-gpus'}, 'Not read yet.');
  const gpus = list(remote.gpus).map(object).filter(Boolean);
  if (!gpus.length) {
    return el('p', {class: 'hint', 'data-testid': 'peer-gpus'},
      remote.managed === false ? 'It runs no models itself.' : 'No GPU budgeted there.');
  }
  return el('ul', {class: 'peer-gpus', 'data-testid': 'peer-gpus'}, gpus.map((g) => {
    const id = text(g.id) || '?';
    const total = size(g.total_bytes);
    const available = size(g.available_bytes);
    const used = total !== null && available !== null ? Math.max(0, Math.min(total, total - available)) : null;
    const pct = total > 0 && used !== null ? `${((used / total) * 100).toFixed(2)}%` : '0%';
    const words = `${id}: ${bytes(available)} available of ${bytes(total)}`;
    return el('li', {'data-testid': 'peer-gpu', 'data-gpu': id},
      el('span', {class: 'gpu-id', title: text(g.name) || null}, id, text(g.kind) && g.kind !== 'gpu' ? el('span', {class: 'sub'}, ` ${text(g.kind)}`) : null),
      el('span', {class: 'bar mini', role: 'img', 'aria-label': words, title: words},
        el('span', {class: 'seg', style: `left:0;width:${pct};background:var(--accent)`})),
      el('span', {class: 'sub'}, `${bytes(available)} free / ${bytes(total)}`));
  }));
}

function peer_card(p, status_at) {
  const cls = k_peer_class[p.state];
  const since = p.since_s !== null ? status_at - p.since_s * 1000 : null;
  // Up: its models are read again at the next refresh; down: the backoff's next probe.
  const next_word = p.state === 'up' ? 'refresh in ' : p.state === 'loop' ? null : 'probe in ';
  const next = next_word && p.next_probe_in_s !== null
    ? el('span', {'data-deadline': Math.round(status_at + p.next_probe_in_s * 1000), 'data-prefix': next_word, 'data-suffix': ''},
      `${next_word}${duration(p.next_probe_in_s)}`)
    : '—';
  const remote = p.remote;
  const facts = [
    ['in this state', since !== null ? el('span', {'data-since': Math.round(since)}, duration(p.since_s)) : '—'],
    ['next', next],
    ['failed probes', el('span', {'data-testid': 'peer-failures'}, String(p.failures))],
    ['its fallback', p.peer_fallback ? 'on' : 'off'],
  ];
  // Which askd answers there: its name when it gives one, else the head of its instance id
  // (drawn at each start: a new one says the other machine restarted).
  const remote_name = remote ? text(remote.name) : '';
  const instance = remote ? text(remote.instance) : '';
  return el('article', {class: 'card peer', 'data-testid': 'peer-card', 'data-peer': p.name, 'data-state': p.state},
    el('header', {},
      el('h3', {}, p.name),
      el('span', {class: `badge ${cls}`, 'data-testid': 'peer-state', title: k_peer_why[p.state]}, p.state),
      remote_name && remote_name !== p.name ? el('span', {class: 'sub'}, `calls itself ${remote_name}`)
        : instance ? el('span', {class: 'sub', title: `instance ${instance}: a new one each time it starts`}, `instance ${instance.slice(0, 8)}`) : null),
    el('p', {class: 'peer-url'}, el('code', {}, p.url || '—'),
      p.prefix ? el('span', {class: 'sub'}, ` · models as `, el('code', {}, `${p.prefix}…`)) : null),
    p.last_error
      ? el('p', {class: 'error peer-error', 'data-testid': 'peer-error', role: 'note'}, el('b', {}, 'last error: '), p.last_error)
      : null,
    el('dl', {class: 'facts'}, facts.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v)))),
    el('h4', {}, `Offered here (${p.models.length})`),
    names(p.models, 'peer-models', {up: 'No model.', loop: 'None: it is never asked.'}[p.state] ?? 'None until it answers.'),
    p.shadowed.length
      ? [el('h4', {title: 'a local model, alias or council, or an earlier peer, already has these names'},
        `Shadowed (${p.shadowed.length})`), names(p.shadowed, 'peer-shadowed', '')]
      : null,
    p.skipped.length
      ? [el('h4', {title: 'models the peer lists that are not offered here, each with why'}, `Not offered (${p.skipped.length})`),
        el('ul', {class: 'skipped sub', 'data-testid': 'peer-skipped'}, p.skipped.map((x) => el('li', {}, x)))]
      : null,
    el('h4', {}, 'Its GPUs'),
    remote_gpus(remote));
}

export function render_peers(state) {
  const section = document.getElementById('peers');
  const peers = peers_of(state.status);
  // An askd without peers (or an older one, whose status has no "peers") shows no panel.
  section.hidden = peers.length === 0;
  if (!peers.length) return replace(document.getElementById('peers-body'));
  const up = peers.filter((p) => p.state === 'up').length;
  document.getElementById('peers-count').textContent = `${up} of ${peers.length} up`;
  replace(document.getElementById('peers-body'), peers.map((p) => peer_card(p, state.status_at)));
}
