// The AI SDK (`ai` with @ai-sdk/openai-compatible, what OpenCode is built on) against askd's
// /v1/chat/completions. Env: ASKD_URL, MODEL, ASKD_KEY (optional).
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, streamText } from 'ai';
import { check, run } from './check.mjs';

const askd = createOpenAICompatible({
  name: 'askd',
  baseURL: `${process.env.ASKD_URL}/v1`,
  apiKey: process.env.ASKD_KEY ?? 'unused',
});
const model = askd(process.env.MODEL);

await run('generateText', async () => {
  const r = await generateText({ model, prompt: 'Say hello.', maxOutputTokens: 32, maxRetries: 0 });
  check.ok(r.text.length > 0);
  check.ok(r.usage.outputTokens > 0);
});

await run('streamText', async () => {
  const r = streamText({ model, prompt: 'Say hello.', maxOutputTokens: 32, maxRetries: 0 });
  let text = '';
  for await (const part of r.textStream) text += part;
  check.ok(text.length > 0);
  check.equal(await r.text, text);
});
