// The openai SDK's embeddings.create against askd's /v1/embeddings. The SDK asks for base64
// when the caller names no encoding_format and decodes it itself into floats, so the default
// call checks askd's (or the backend's) float32 little-endian encoding; "float" asks for the
// JSON numbers, which must be the same vector.
// Env: ASKD_URL (http://127.0.0.1:PORT), MODEL (a logical model with the embedding
// capability), ASKD_KEY (optional). Exits non-zero with the failed check on stderr.
import OpenAI from 'openai';
import { check, run } from './check.mjs';

const model = process.env.MODEL;
const client = new OpenAI({
  baseURL: `${process.env.ASKD_URL}/v1`,
  apiKey: process.env.ASKD_KEY ?? 'unused',
  maxRetries: 0,
});

// Within float32 rounding of each other.
function close(a, b) {
  check.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    check.ok(Math.abs(a[i] - b[i]) <= 1e-6 * Math.max(1, Math.abs(b[i])), `[${i}] ${a[i]} vs ${b[i]}`);
  }
}

let floats;
await run('embeddings.create with encoding_format float', async () => {
  const r = await client.embeddings.create({
    model, input: ['the giant panda', 'a quiet harbor'], encoding_format: 'float',
  });
  check.equal(r.object, 'list');
  check.equal(r.model, model);
  check.equal(r.data.length, 2);
  r.data.forEach((d, i) => {
    check.equal(d.object, 'embedding');
    check.equal(d.index, i);
    check.ok(Array.isArray(d.embedding) && d.embedding.length >= 2);
    check.ok(d.embedding.every((x) => typeof x === 'number' && Number.isFinite(x)));
  });
  check.notDeepEqual(r.data[0].embedding, r.data[1].embedding);
  check.ok(r.usage.prompt_tokens > 0);
  check.equal(r.usage.total_tokens, r.usage.prompt_tokens);
  floats = r.data[0].embedding;
});

await run('embeddings.create with the default (base64, decoded by the SDK)', async () => {
  const r = await client.embeddings.create({ model, input: 'the giant panda' });
  check.equal(r.data.length, 1);
  check.ok(Array.isArray(r.data[0].embedding), typeof r.data[0].embedding);
  close(r.data[0].embedding, floats);
});

await run('embeddings.create with encoding_format base64 kept as text', async () => {
  const r = await client.embeddings.create({
    model, input: 'the giant panda', encoding_format: 'base64',
  });
  const text = r.data[0].embedding;
  check.equal(typeof text, 'string');
  const bytes = Buffer.from(text, 'base64');
  check.equal(bytes.length, floats.length * 4);
  const decoded = Array.from({ length: floats.length }, (_, i) => bytes.readFloatLE(i * 4));
  close(decoded, floats);
});

await run('embeddings.create refused: an empty input is a 400', async () => {
  const e = await client.embeddings.create({ model, input: [] }).then(() => null, (err) => err);
  check.ok(e instanceof OpenAI.BadRequestError, String(e));
  check.match(e.message, /input/);
});
