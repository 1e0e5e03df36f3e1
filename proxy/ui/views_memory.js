// The GPUs-and-host-memory view (a bar per device: each instance's share, other processes,
// what is left under the cap, the reserve above it) and the instances view (managed models
// with load / unload / pin buttons, running instances with their measured memory).

import {el, replace, bytes, duration, colour} from './util.js';
import {model_state, state_badge, empty_row} from './views_models.js';

// What an instance is charged on one device (the scheduler's budget, which used_by_askd sums:
// the corrected estimate), and what llama-server said it allocated there once it is ready.
function share_on(instance, device) {
  if (device === 'host') {
    const h = instance.host ?? {};
    const b = h.charged_bytes ?? h.estimated_bytes ?? 0;
    return b > 0 ? {bytes: b, measured: h.measured_bytes} : null;
  }
  const d = (instance.devices ?? []).find((x) => x.gpu === device);
  if (!d) return null;
  return {bytes: d.estimated_bytes ?? 0, measured: d.measured_bytes};
}

// One line per device of an instance's plan: where its layers went and what they take.
export function plan_text(instance) {
  const parts = (instance.devices ?? []).map((d) =>
    `${d.gpu}${d.device ? ` (${d.device})` : ''}: ${d.layers} layers, ${bytes(d.estimated_bytes)} estimated` +
    (d.measured_bytes != null ? `, ${bytes(d.measured_bytes)} measured` : ''));
  const h = instance.host;
  if (h && (h.layers > 0 || h.estimated_bytes > 0)) {
    parts.push(`host: ${h.layers} layers, ${bytes(h.estimated_bytes)} estimated` +
      (h.measured_bytes != null ? `, ${bytes(h.measured_bytes)} measured` : ''));
  }
  return `${instance.model} #${instance.id} (${instance.state}) — ${parts.join('; ') || 'no devices'}`;
}

function device_card(state, g, id, label) {
  const total = g.total_bytes || 1;
  const pct = (b) => `${Math.max(0, Math.min(100, (b / total) * 100)).toFixed(3)}%`;
  const reserve = Math.max(0, g.total_bytes - g.cap_bytes);
  const plan = el('p', {class: 'plan', 'data-testid': 'device-plan'}, 'Hover or focus a segment to see its plan.');
  const segments = [];
  const legend = [];
  let at = 0;
  for (const inst of state.status.instances ?? []) {
    const share = share_on(inst, id);
    if (!share) continue;
    const text = plan_text(inst);
    const show = () => { plan.textContent = text; };
    segments.push(el('span', {class: `seg${inst.state === 'starting' ? ' starting' : ''}`,
      style: `left:${pct(at)};width:${pct(share.bytes)};background:${colour(inst.model)}`,
      tabindex: 0, role: 'img', 'aria-label': text, title: text,
      'data-testid': 'segment', 'data-model': inst.model, onmouseenter: show, onfocus: show}));
    legend.push(el('li', {}, el('span', {class: 'swatch', style: `background:${colour(inst.model)}`}),
      `${inst.model} #${inst.id} ${bytes(share.bytes)}`,
      el('span', {class: 'sub'}, share.measured != null ? ` (measured ${bytes(share.measured)})` : ' (not measured yet)')));
    at += share.bytes;
  }
  const other = g.free_reading_bytes != null
    ? Math.max(0, g.total_bytes - g.free_reading_bytes - (g.used_by_askd_bytes ?? 0)) : 0;
  if (other > 0) {
    segments.push(el('span', {class: 'seg other', style: `left:${pct(at)};width:${pct(other)}`,
      title: `${bytes(other)} used outside askd`}));
    legend.push(el('li', {}, el('span', {class: 'swatch other'}), `others ${bytes(other)}`));
    at += other;
  }
  if (reserve > 0) {
    segments.push(el('span', {class: 'seg reserve', style: `left:${pct(g.cap_bytes)};width:${pct(reserve)}`,
      title: `reserve ${bytes(reserve)} (total − cap)`}));
  }
  const ghost = el('span', {class: 'seg ghost', hidden: true, 'data-testid': 'ghost'});
  segments.push(ghost);
  const facts = [
    ['total', bytes(g.total_bytes)], ['cap', bytes(g.cap_bytes)], ['reserve', bytes(reserve)],
    ['used by askd', bytes(g.used_by_askd_bytes)], ['available', bytes(g.available_bytes)],
    ['free (reading)', g.free_reading_bytes != null ? bytes(g.free_reading_bytes) : 'not read'],
  ];
  const card = el('article', {class: 'card', 'data-testid': 'gpu-card', 'data-gpu': id},
    el('header', {},
      el('h3', {}, label),
      el('span', {class: 'sub'}, [g.kind ?? '', g.endpoint ? ` ${g.endpoint}` : '', g.unified ? ' · unified memory' : ''].join(''))),
    el('div', {class: 'bar', role: 'group', 'aria-label': `${label}: ${bytes(g.used_by_askd_bytes)} used by askd of ${bytes(g.cap_bytes)} cap`}, segments),
    el('dl', {class: 'facts'}, facts.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v)))),
    legend.length ? el('ul', {class: 'legend'}, legend) : el('p', {class: 'hint'}, 'No instance here.'),
    plan);
  card.ghost = (b) => {
    ghost.hidden = b === null;
    if (b !== null) ghost.style.cssText = `left:${pct(at)};width:${pct(b)}`;
  };
  card.device = g;
  return card;
}

export function render_gpus(state) {
  const body = document.getElementById('gpus-body');
  const s = state.status;
  if (!s) return replace(body, el('p', {class: 'hint'}, state.status_error ?? 'loading…'));
  if (!s.managed) return replace(body, el('p', {class: 'hint'}, 'askd runs no models itself (no llama-server backend with managed models), so it budgets no memory.'));
  const cards = (s.gpus ?? []).map((g) => device_card(state, g, g.id, g.id));
  if (s.host) cards.push(device_card(state, s.host, 'host', 'host memory'));
  replace(body, cards.length ? cards : el('p', {class: 'hint'}, 'No devices budgeted.'));

  // Managed models: hovering one shows its single-device estimate on every bar.
  const detail = document.getElementById('plan-detail');
  const chips = Object.entries(s.models ?? {}).map(([name, m]) => {
    const show = () => {
      const fits = cards.filter((c) => c.device.available_bytes >= m.estimated_bytes).map((c) => c.dataset.gpu);
      const loaded = (s.instances ?? []).filter((i) => i.model === name);
      if (!loaded.length) for (const c of cards) c.ghost(m.estimated_for === 'host' ? (c.dataset.gpu === 'host' ? m.estimated_bytes : null) : (c.dataset.gpu === 'host' ? null : m.estimated_bytes));
      detail.textContent = `${name}: ${bytes(m.estimated_bytes)} estimated (${m.estimated_for})` +
        (m.margin ? `, margin ${Math.round(m.margin * 100)}%${m.margin_reason ? ` (${m.margin_reason})` : ''}` : '') +
        (loaded.length ? ` — loaded: ${loaded.map(plan_text).join('; ')}` :
          fits.length ? ` — fits now on ${fits.join(', ')}` : ' — would need an eviction (or does not fit)');
    };
    const hide = () => { for (const c of cards) c.ghost(null); };
    return el('button', {type: 'button', class: 'chip model', 'data-testid': 'plan-model', 'data-model': name,
      'data-focus': `plan-${name}`, onmouseenter: show, onfocus: show, onmouseleave: hide, onblur: hide},
    el('span', {class: 'swatch', style: `background:${colour(name)}`}), name, ' ', el('span', {class: 'sub'}, bytes(m.estimated_bytes)));
  });
  replace(document.getElementById('plan-models'), chips);
}

export function render_instances(state, actions) {
  const s = state.status;
  const managed = document.getElementById('managed-body');
  const running = document.getElementById('instances-body');
  if (!s?.managed) {
    const why = state.status_error ?? 'askd runs no models itself.';
    replace(managed, empty_row(6, why));
    replace(running, empty_row(12, why));
    return;
  }
  const button = (label, name, what, extra = {}) => el('button', {type: 'button', class: 'small',
    'data-testid': `${what}-button`, 'data-model': name, 'data-focus': `${what}-${name}`,
    'aria-label': `${label} ${name}`, onclick: () => actions.model_action(name, what), ...extra}, label);
  replace(managed, Object.entries(s.models ?? {}).map(([name, m]) => {
    const loaded = (s.instances ?? []).some((i) => i.model === name);
    return el('tr', {'data-testid': 'managed-row', 'data-model': name},
      el('th', {scope: 'row'}, el('span', {class: 'swatch', style: `background:${colour(name)}`}), name),
      el('td', {}, state_badge(model_state(state, name))),
      el('td', {class: 'num', title: `estimated for ${m.estimated_for}`}, bytes(m.estimated_bytes)),
      el('td', {}, m.keep_alive ?? '—'),
      el('td', {}, m.pinned ? el('span', {class: 'badge warn'}, 'pinned') : 'no'),
      el('td', {}, el('div', {class: 'actions'},
        button('Load', name, 'load'),
        button('Unload', name, 'unload', {disabled: !loaded}),
        // Pin and Unpin share a focus key: the button that replaces the pressed one keeps focus.
        m.pinned ? button('Unpin', name, 'unpin', {'data-focus': `pin-${name}`}) : button('Pin', name, 'pin'))));
  }));
  const rows = (s.instances ?? []).map((i) => el('tr', {'data-testid': 'instance-row', 'data-model': i.model, 'data-instance': i.id},
    el('td', {class: 'num'}, i.id),
    el('th', {scope: 'row'}, i.model, i.prewarmed ? el('span', {class: 'chip'}, 'prewarmed') : null),
    el('td', {}, el('span', {class: `badge ${i.state === 'ready' ? 'ok' : 'warn'}`, title: i.stop_reason}, i.state)),
    el('td', {class: 'num'}, i.pid ?? '—'),
    el('td', {class: 'num'}, i.port ?? '—'),
    el('td', {title: plan_text(i)}, (i.devices ?? []).map((d) => `${d.gpu}:${d.layers}L`).join(' ') +
      (i.host?.layers ? ` host:${i.host.layers}L` : '') || 'host'),
    el('td', {class: 'num'}, bytes(i.estimated_bytes + (i.host?.estimated_bytes ?? 0))),
    el('td', {class: 'num'}, i.measured_bytes != null ? bytes(i.measured_bytes + (i.host?.measured_bytes ?? 0)) : '—'),
    el('td', {class: 'num'}, i.in_flight),
    el('td', {class: 'num', 'data-since': Math.round(state.status_at - (i.up_s ?? 0) * 1000)}, duration(i.up_s)),
    el('td', {}, i.expires_in_s != null
      ? el('span', {'data-deadline': Math.round(state.status_at + i.expires_in_s * 1000), 'data-prefix': 'unloads in ', 'data-suffix': ''}, `unloads in ${duration(i.expires_in_s)}`)
      : i.idle_s != null ? `idle ${duration(i.idle_s)}` : i.in_flight ? 'busy' : '—'),
    el('td', {}, el('div', {class: 'actions'}, button('Unload', i.model, 'unload-instance', {onclick: () => actions.model_action(i.model, 'unload'), 'data-focus': `unload-instance-${i.id}`})))));
  replace(running, rows.length ? rows : empty_row(12, 'No instance running.'));
}
