// The openai SDK's legacy text completions (client.completions.create: what editor plugins
// for code completion use) against askd's /v1/completions, with fill-in-the-middle.
// Env: ASKD_URL (http://127.0.0.1:PORT), MODEL (a logical model served by llm-sim), FIM
// ("1" when the model's backend does fill-in-the-middle: llm-sim then starts the answer with
// "[fim LAST..FIRST] "), ASKD_KEY (optional). Exits non-zero with the failed check on stderr.
import OpenAI from 'openai';
import { check, run } from './check.mjs';

const model = process.env.MODEL;
const fim = process.env.FIM === '1';
const client = new OpenAI({
  baseURL: `${process.env.ASKD_URL}/v1`,
  apiKey: process.env.ASKD_KEY ?? 'unused',
  maxRetries: 0,
});
const prompt = 'def add(a, b):\n    c =';
const suffix = '\n    return c\n';

await run('completions.create', async () => {
  const r = await client.completions.create({ model, prompt, max_tokens: 16 });
  check.equal(r.object, 'text_completion');
  check.equal(r.model, model);
  check.equal(r.choices.length, 1);
  check.ok(r.choices[0].text.length > 0);
  check.ok(['stop', 'length'].includes(r.choices[0].finish_reason), r.choices[0].finish_reason);
  check.ok(r.usage.completion_tokens > 0);
});

await run('completions.create with a suffix', async () => {
  const r = await client.completions.create({ model, prompt, suffix, max_tokens: 16 });
  check.equal(r.object, 'text_completion');
  if (fim) check.match(r.choices[0].text, /^\[fim c\.\.return\] /);
});

await run('completions.create streamed with a suffix', async () => {
  const stream = await client.completions.create({
    model, prompt, suffix, max_tokens: 16, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    check.equal(chunk.object, 'text_completion');
    text += chunk.choices[0]?.text ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  check.ok(text.length > 0);
  if (fim) check.match(text, /^\[fim c\.\.return\] /);
  check.ok(['stop', 'length'].includes(finish), String(finish));
  check.ok(usage.completion_tokens > 0);
});

await run('completions.create refuses a malformed request', async () => {
  const e = await client.completions.create({ model, prompt, n: 2 }).then(() => null, (x) => x);
  check.ok(e instanceof OpenAI.BadRequestError, String(e));
  check.match(e.message, /\bn\b/);
});
