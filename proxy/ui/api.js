// askd's HTTP API as the page uses it: the API key (kept in sessionStorage, or localStorage
// when the user ticks "remember"), JSON calls that raise ApiError with askd's own sentence,
// and /api/events read with fetch() because EventSource cannot send an Authorization header.

import {sleep} from './util.js';

const k_key = 'askd-ui-key';

export function key() {
  return sessionStorage.getItem(k_key) ?? localStorage.getItem(k_key) ?? '';
}

export function set_key(value, remember) {
  sessionStorage.removeItem(k_key);
  localStorage.removeItem(k_key);
  if (value) (remember ? localStorage : sessionStorage).setItem(k_key, value);
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(extra) {
  const h = {...extra};
  const k = key();
  if (k) h.Authorization = `Bearer ${k}`;
  return h;
}

// fetch a JSON endpoint; a non-2xx reply throws ApiError carrying error.message.
export async function api(path, {method = 'GET', body, signal} = {}) {
  const init = {method, signal, headers: headers(body ? {'Content-Type': 'application/json'} : {})};
  if (body !== undefined) init.body = JSON.stringify(body);
  let reply;
  try {
    reply = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `askd did not answer (${e.message})`);
  }
  const text = await reply.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: the text itself is the best message there is
  }
  if (!reply.ok) {
    const message = json?.error?.message ?? (text.trim() || reply.statusText);
    throw new ApiError(reply.status, `${message} (HTTP ${reply.status})`);
  }
  return json;
}

// Read /api/events until `signal` aborts, reconnecting with Last-Event-ID after a drop.
// on_event({event, id, data}) gets each parsed event (data parsed as JSON when it is);
// on_state('live' | 'reconnecting' | 'unauthorized', detail) says how the stream stands.
// The first connection asks for everything askd still holds (its last 1024 events), so the
// events view opens with what happened before the page did.
export async function stream_events({on_event, on_state, signal}) {
  let last_id = '0';
  let delay = 500;
  while (!signal.aborted) {
    try {
      const reply = await fetch('/api/events', {headers: headers({'Last-Event-ID': last_id}), signal, cache: 'no-store'});
      if (reply.status === 401) {
        on_state('unauthorized');
        return;
      }
      if (!reply.ok || !reply.body) throw new Error(`HTTP ${reply.status}`);
      on_state('live');
      delay = 500;
      for await (const ev of sse_events(reply.body)) {
        if (ev.id !== null) last_id = ev.id;
        on_event(ev);
      }
      throw new Error('the stream ended');
    } catch (e) {
      if (signal.aborted) return;
      on_state('reconnecting', e.message);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 10000);
  }
}

// Parse a text/event-stream body: "field: value" lines, a blank line ends an event, lines
// starting with ':' are comments.
async function* sse_events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let event = {event: 'message', id: null, data: []};
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      buffer += value;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        let line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          if (event.data.length > 0) yield finish(event);
          event = {event: 'message', id: null, data: []};
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? '' : line.slice(colon + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (field === 'event') event.event = v;
        else if (field === 'data') event.data.push(v);
        else if (field === 'id') event.id = v;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function finish(event) {
  const text = event.data.join('\n');
  let data = text;
  try {
    data = JSON.parse(text);
  } catch {
    // a non-JSON data line stays a string
  }
  return {event: event.event, id: event.id, data};
}
