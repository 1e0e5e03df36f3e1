// Drives askd's operator page (/ui) in headless Chromium against a running askd.
//
//   node tests/browser/ui_test.mjs --url http://127.0.0.1:PORT --key KEY --out DIR
//
// tests/integration/askd_ui_test.cpp starts askd first with: backend "local" (llm-sim as
// llama-server), managed models a and b on one declared GPU gpu0 whose cap holds only one of
// them (loading b evicts a), a configured alias fast → a, api_keys [KEY], and two peers
// (backends of kind askd): box2, a second askd offering its managed model coder as
// box2/coder, and gone, on a port where nothing listens. Prints one `ok - …` line per check
// and exits 1 at the first failure; writes DIR/<view>.png at 1280×800, DIR/phone-<view>.png
// at 390×844, and the peers panel alone as DIR/peers.png and DIR/phone-peers.png.

import {chromium} from 'playwright-core';
import {mkdirSync} from 'node:fs';
import {join} from 'node:path';

const k_views = ['models', 'gpus', 'instances', 'requests', 'events', 'config', 'charts'];
const k_live_budget_ms = 1000; // a request or an eviction shows on the page within this
const k_wait_ms = 10000; // any other wait (page loads, model loads on llm-sim)
const k_watchdog_ms = 60000;

function parse_args(argv) {
  const args = {url: '', key: '', out: ''};
  for (let i = 2; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    if (!(name in args) || argv[i + 1] === undefined) {
      console.error(`usage: node ui_test.mjs --url URL --key KEY --out DIR (bad argument ${argv[i]})`);
      process.exit(2);
    }
    args[name] = argv[i + 1];
  }
  if (!args.url || !args.out) {
    console.error('usage: node ui_test.mjs --url URL --key KEY --out DIR');
    process.exit(2);
  }
  args.url = args.url.replace(/\/$/, '');
  return args;
}

const args = parse_args(process.argv);
const started = Date.now();
let browser = null;

async function fail(message) {
  console.log(`not ok - ${message}`);
  console.error(`ui_test: FAILED after ${((Date.now() - started) / 1000).toFixed(1)} s: ${message}`);
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}

const watchdog = setTimeout(() => fail(`watchdog: still running after ${k_watchdog_ms / 1000} s`), k_watchdog_ms);

function ok(message) {
  console.log(`ok - ${message}`);
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

// --- askd over HTTP, as a client would call it -------------------------------------------

async function call(method, path, body) {
  const headers = {};
  if (args.key) headers.Authorization = `Bearer ${args.key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const reply = await fetch(args.url + path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(k_wait_ms)});
  const text = await reply.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON; the text is kept for the message
  }
  return {status: reply.status, headers: reply.headers, json, text};
}

function chat(model) {
  return call('POST', '/v1/chat/completions', {model, messages: [{role: 'user', content: 'hi'}], max_tokens: 8});
}

async function wait_for(what, probe, limit_ms = k_wait_ms, every_ms = 50) {
  const until = Date.now() + limit_ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${limit_ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every_ms));
  }
}

// --- the page ------------------------------------------------------------------------------

async function main() {
  mkdirSync(args.out, {recursive: true});
  browser = await chromium.launch({executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox']});
  const context = await browser.newContext({viewport: {width: 1280, height: 800}});
  context.setDefaultTimeout(k_wait_ms);
  const page = await context.newPage();

  // Every console error and uncaught exception fails the run. Without a key the page asks for
  // one before any call (GET /health says one is needed); the one refusal allowed is askd's
  // 401 to the wrong key the test types on purpose, which Chromium logs as "Failed to load
  // resource … 401": let through while that wrong key is in, and only then.
  const errors = [];
  let wrong_key_in = false;
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (wrong_key_in && /Failed to load resource: the server responded with a status of 401/.test(text)) return;
    errors.push(`console error: ${text} (${msg.location()?.url ?? ''})`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  const no_errors = (when) => check(errors.length === 0, `${when}: ${errors.join('; ')}`);

  const tab = (view) => page.click(`[data-testid=tab-${view}]`);
  const row = (kind, attrs) => `[data-testid=${kind}-row]` + Object.entries(attrs).map(([k, v]) => `[data-${k}="${v}"]`).join('');

  // 1. The page loads and takes the key.
  await page.goto(`${args.url}/ui`);
  if (args.key) {
    await page.locator('[data-testid=key-input]').waitFor({state: 'visible'});
    ok('without a key the page asks for one');
    no_errors('before a key is entered');
    await page.fill('[data-testid=key-input]', `${args.key}-wrong`);
    wrong_key_in = true;
    await page.press('[data-testid=key-input]', 'Enter');
    await page.locator('#auth-error').filter({hasText: '401'}).waitFor();
    check(await page.locator('[data-testid=key-input]').isVisible(), 'the key form went away after a wrong key');
    ok('a wrong key is refused with askd\'s message and the form stays');
    await page.click('[data-testid=key-input]');
    await page.keyboard.type(args.key);
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=auth]').waitFor({state: 'hidden'});
    wrong_key_in = false;
    ok('the key entered in the form is accepted');
  }
  await page.locator('[data-testid=conn][data-state=live]').waitFor();
  if (!args.key) {
    check(!(await page.locator('[data-testid=auth]').isVisible()), 'askd has no keys, yet the page asks for one');
    ok('askd has no keys and the page asks for none');
  }
  ok('the event stream is live');

  // 2. Models and GPUs.
  for (const name of ['a', 'b', 'fast']) await page.locator(row('model', {model: name})).waitFor();
  check(await page.locator(row('model', {model: 'fast', kind: 'alias'})).count() === 1, 'fast is not shown as an alias');
  check((await page.locator(row('model', {model: 'fast'})).innerText()).includes('a'), 'fast does not say it points at a');
  ok('the models view lists a, b and the alias fast → a');

  // 2b. Peers: box2 up with its model, gone down with its error; box2's model in the table.
  const peer = (name) => page.locator(`[data-testid=peer-card][data-peer="${name}"]`);
  await peer('box2').and(page.locator('[data-state=up]')).waitFor().catch(async () => {
    throw new Error(`box2 is not shown up: ${await peer('box2').innerText().catch(() => 'no card')}`);
  });
  await peer('box2').locator('[data-testid=peer-models]').filter({hasText: 'box2/coder'}).waitFor();
  await peer('box2').locator('[data-testid=peer-gpu][data-gpu=gpu0]').waitFor();
  await peer('gone').and(page.locator('[data-state=down]')).waitFor();
  const gone_error = await peer('gone').locator('[data-testid=peer-error]').innerText();
  check(gone_error.length > 'last error: '.length, `gone shows no error: "${gone_error}"`);
  check(await peer('gone').locator('[data-testid=peer-state]').innerText() === 'down', 'gone\'s badge does not say down');
  const peer_row = page.locator(row('model', {model: 'box2/coder', peer: 'box2'}));
  await peer_row.waitFor();
  check((await peer_row.locator('[data-testid=model-backend]').innerText()).startsWith('peer box2'), 'box2/coder\'s backend is not "peer box2"');
  ok(`the peers panel shows box2 up with box2/coder and its gpu0, gone down (${gone_error.replace(/\s+/g, ' ')})`);
  await tab('gpus');
  await page.locator('[data-testid=gpu-card][data-gpu=gpu0]').waitFor();
  ok('the GPU view shows gpu0');
  no_errors('after the first views');

  // 3. A request shows in the requests view within a second of its reply.
  await tab('requests');
  const answered = await chat('a');
  const answered_at = Date.now();
  check(answered.status === 200, `chat to a answered ${answered.status}: ${answered.text}`);
  const id = answered.headers.get('x-request-id');
  check(id, 'the chat reply has no X-Request-Id');
  const request_row = page.locator(row('request', {'request-id': id}));
  await request_row.waitFor({timeout: k_live_budget_ms}).catch(() => {
    throw new Error(`request ${id} not in the requests view within ${k_live_budget_ms} ms of its reply`);
  });
  ok(`request ${id} shows in the requests view ${Date.now() - answered_at} ms after its reply`);
  await request_row.locator('button').click();
  await page.locator('[data-testid=request-detail]').waitFor({state: 'visible'});
  check((await page.locator('[data-testid=request-detail]').innerText()).includes(id), 'the request detail does not show its id');
  ok('clicking the request shows its details and attempts');
  const via_peer = await chat('box2/coder');
  check(via_peer.status === 200, `chat to box2/coder answered ${via_peer.status}: ${via_peer.text}`);
  check(via_peer.headers.get('x-served-by') === 'coder@box2', `chat to box2/coder served by ${via_peer.headers.get('x-served-by')}, not coder@box2`);
  const peer_request = page.locator(row('request', {'request-id': via_peer.headers.get('x-request-id'), 'served-by': 'coder@box2'}));
  await peer_request.waitFor({timeout: k_live_budget_ms});
  check((await peer_request.innerText()).includes('coder@box2'), 'the peer\'s request row does not show coder@box2');
  ok('a request to box2/coder shows in the requests view served by coder@box2');

  // 4. Loading b evicts a; the eviction shows in the events view within a second.
  await tab('events');
  const load_a = await call('POST', '/api/models/a/load');
  check(load_a.status === 200, `load a answered ${load_a.status}: ${load_a.text}`);
  await wait_for('a to be ready', async () => {
    const s = await call('GET', '/api/status');
    return (s.json?.instances ?? []).some((i) => i.model === 'a' && i.state === 'ready');
  });
  // The view opens with askd's recent history: count the evictions of a shown already.
  const eviction = page.locator(row('event', {label: 'evicted', model: 'a'}));
  const evictions_before = await eviction.count();
  const load_b = await call('POST', '/api/models/b/load');
  const loaded_at = Date.now();
  check(load_b.status === 200, `load b answered ${load_b.status}: ${load_b.text}`);
  await page.waitForFunction((n) => document.querySelectorAll(
    '[data-testid=event-row][data-label=evicted][data-model=a]').length > n, evictions_before,
  {timeout: k_live_budget_ms}).catch(() => {
    throw new Error(`the eviction of a is not in the events view within ${k_live_budget_ms} ms of the load reply`);
  });
  check((await eviction.first().innerText()).includes('evicted to make room for b'), 'the eviction row does not say "evicted to make room for b"');
  ok(`the eviction of a shows in the events view ${Date.now() - loaded_at} ms after b's load reply`);
  no_errors('after the live updates');

  // 5. An alias added on the page routes requests; deleted on the page, it is gone.
  await tab('models');
  await page.click('[data-testid=alias-name]');
  await page.keyboard.type('ui-alias');
  await page.keyboard.press('Tab');
  await page.keyboard.type('b');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.locator(row('alias', {alias: 'ui-alias'})).waitFor();
  check(await page.locator('[data-testid=alias-error]').innerText() === '', 'the alias form shows an error');
  ok('alias ui-alias → b added with the keyboard on the page');
  const via_alias = await chat('ui-alias');
  check(via_alias.status === 200, `chat to ui-alias answered ${via_alias.status}: ${via_alias.text}`);
  check(via_alias.headers.get('x-served-by') === 'b', `chat to ui-alias served by ${via_alias.headers.get('x-served-by')}, not b`);
  ok('a request to ui-alias is served by b');
  await page.locator(row('model', {model: 'ui-alias', kind: 'alias'})).waitFor();
  await page.locator(row('alias', {alias: 'ui-alias'})).locator('[data-testid=alias-delete]').click();
  await page.locator(row('alias', {alias: 'ui-alias'})).waitFor({state: 'detached'});
  const gone = await chat('ui-alias');
  check(gone.status === 404, `chat to the deleted ui-alias answered ${gone.status}, not 404: ${gone.text}`);
  ok('deleted on the page, ui-alias answers 404');

  // 6. Keyboard and labels.
  await page.focus('[data-testid=tab-models]');
  await page.keyboard.press('ArrowRight');
  check(await page.getAttribute('[data-testid=tab-gpus]', 'aria-selected') === 'true', 'ArrowRight on the models tab does not select the GPUs tab');
  check(await page.evaluate(() => document.activeElement?.dataset.testid) === 'tab-gpus', 'ArrowRight does not move focus to the GPUs tab');
  await page.keyboard.press('End');
  check(await page.getAttribute('[data-testid=tab-charts]', 'aria-selected') === 'true', 'End does not select the last tab');
  await page.keyboard.press('Home');
  check(await page.getAttribute('[data-testid=tab-models]', 'aria-selected') === 'true', 'Home does not select the first tab');
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((f) => f.labels.length === 0 && !f.getAttribute('aria-label')).map((f) => f.id || f.outerHTML));
  check(unlabelled.length === 0, `form fields without a label: ${unlabelled.join(', ')}`);
  const fake_buttons = await page.evaluate(() => [...document.querySelectorAll('[onclick], [role=button]')]
    .filter((n) => n.tagName !== 'BUTTON').length);
  check(fake_buttons === 0, `${fake_buttons} clickable elements are not <button>s`);
  ok('tabs work with arrow keys, Home and End; every field has a label');

  // 7. Config: resolved, the key masked.
  await tab('config');
  await page.locator('[data-testid=config-body]').filter({hasText: 'fast'}).waitFor();
  if (args.key) check(!(await page.locator('[data-testid=config-body]').innerText()).includes(args.key), 'the config view shows the API key');
  ok('the config view shows the resolved config with its secrets masked');

  // 8. Instances: b is loaded, with its load / unload / pin buttons.
  await tab('instances');
  await page.locator(row('instance', {model: 'b'})).waitFor();
  check(await page.locator(`${row('managed', {model: 'a'})} [data-testid=load-button]`).evaluate((b) => b.tagName) === 'BUTTON', 'no load button for a');
  ok('the instances view shows b running and the load / unload / pin buttons');

  // 9. The plan of an instance on hover; the requests filter.
  await tab('gpus');
  await page.locator('[data-gpu=gpu0] [data-testid=segment][data-model=b]').hover();
  const plan = await page.locator('[data-gpu=gpu0] [data-testid=device-plan]').innerText();
  check(/^b #\d+ .*gpu0.*layers/.test(plan), `hovering b's segment on gpu0 shows "${plan}", not b's plan`);
  ok('hovering an instance on the GPU bar shows its plan');
  await tab('requests');
  await page.selectOption('[data-testid=filter-status]', '4xx');
  const statuses = await page.locator('[data-testid=request-row]').evaluateAll((rows) => rows.map((r) => r.dataset.status));
  check(statuses.includes('404') && statuses.every((x) => x.startsWith('4')), `the 4xx filter shows statuses ${statuses.join(', ')}`);
  await page.selectOption('[data-testid=filter-status]', '');
  await page.selectOption('[data-testid=filter-model]', 'a');
  const asked = await page.locator('[data-testid=request-row]').evaluateAll((rows) => rows.map((r) => r.dataset.model));
  check(asked.includes('a') && !asked.includes('ui-alias'), `the model filter a shows requests for ${asked.join(', ')}`);
  await page.selectOption('[data-testid=filter-model]', '');
  ok('the requests view filters by status and by model');

  // 10. The page's own buttons: unload b, load a, pin a. A request for b then cannot place b
  // (the GPU holds one model and a may not go) and falls back to remote; the requests view
  // shows the path with the reason, and the request's attempts say why b failed.
  await tab('instances');
  const button = (what, model) => page.locator(`${row('managed', {model})} [data-testid=${what}-button]`);
  await button('unload', 'b').click();
  await page.locator(row('instance', {model: 'b'})).waitFor({state: 'detached'});
  await button('load', 'a').click();
  await page.locator(row('instance', {model: 'a'})).filter({hasText: 'ready'}).waitFor();
  await button('pin', 'a').click();
  await page.locator(row('managed', {model: 'a'})).filter({hasText: 'pinned'}).waitFor();
  check(await button('unpin', 'a').count() === 1, 'a pinned model has no Unpin button');
  ok('unload, load and pin work from the instances view');
  await tab('requests');
  const fell = await chat('b');
  check(fell.status === 200, `chat to b answered ${fell.status}: ${fell.text}`);
  check(fell.headers.get('x-served-by') === 'remote', `chat to b served by ${fell.headers.get('x-served-by')}, not remote`);
  const fell_row = page.locator(row('request', {'request-id': fell.headers.get('x-request-id')}));
  await fell_row.waitFor({timeout: k_live_budget_ms});
  const fell_text = await fell_row.innerText();
  check(/b \(\w+\) → remote/.test(fell_text), `the fallen-back request's row shows "${fell_text}", not b (reason) → remote`);
  await fell_row.locator('button').click();
  const attempts = page.locator('[data-testid=request-detail] [data-testid=attempts]');
  await attempts.waitFor();
  const attempts_text = await attempts.innerText();
  check(attempts_text.includes('b on local'), `the attempts show "${attempts_text}", not b's failure on local`);
  ok(`a request for b fell back to remote; its attempts say why: ${attempts_text.split('\n').join(' ')}`);
  no_errors('after the fallback');

  // 11. Screenshots of every view, wide and phone-sized; nothing wider than the screen.
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.locator('[data-testid=request-detail]').waitFor({state: 'visible'});
  for (const view of k_views) {
    await tab(view);
    if (view === 'gpus') await page.locator('[data-gpu=gpu0] [data-testid=segment][data-model=a]').hover();
    check(await overflow() <= 0, `the ${view} view is wider than 1280 px`);
    await page.screenshot({path: join(args.out, `${view}.png`)});
    if (view === 'models') await page.locator('[data-testid=peers]').screenshot({path: join(args.out, 'peers.png')});
  }
  await page.setViewportSize({width: 390, height: 844});
  for (const view of k_views) {
    await tab(view);
    check(await overflow() <= 0, `the ${view} view is wider than 390 px (tables scroll inside their box)`);
    await page.screenshot({path: join(args.out, `phone-${view}.png`)});
    if (view === 'models') {
      const wide = await page.locator('[data-testid=peers] *').evaluateAll((nodes) =>
        nodes.filter((n) => n.getBoundingClientRect().right > window.innerWidth).map((n) => n.className || n.tagName));
      check(wide.length === 0, `in the peers panel at 390 px, past the screen's edge: ${wide.join(', ')}`);
      await page.locator('[data-testid=peers]').screenshot({path: join(args.out, 'phone-peers.png')});
    }
  }
  // Dark, as a browser set to it shows the page: the views people leave open all day.
  await page.setViewportSize({width: 1280, height: 800});
  await page.emulateMedia({colorScheme: 'dark'});
  for (const view of ['models', 'gpus', 'requests']) {
    await tab(view);
    await page.screenshot({path: join(args.out, `dark-${view}.png`)});
    if (view === 'models') await page.locator('[data-testid=peers]').screenshot({path: join(args.out, 'dark-peers.png')});
  }
  ok(`screenshots of ${k_views.length} views at 1280×800 and 390×844, 3 dark ones, and the peers panel (wide, phone, dark), in ${args.out}`);
  no_errors('at the end');
  ok(`no console error or page error (${((Date.now() - started) / 1000).toFixed(1)} s in all)`);
}

main().then(async () => {
  clearTimeout(watchdog);
  await browser.close();
  process.exit(0);
}, (e) => fail(e.message.split('\n')[0]));
