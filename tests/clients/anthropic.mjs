// @anthropic-ai/sdk (what Claude Code is built on) against askd's /v1/messages.
// Env: ASKD_URL (http://127.0.0.1:PORT), MODEL (a logical model served by llm-sim),
// ASKD_KEY (optional). Exits non-zero with the failed check on stderr.
import Anthropic from '@anthropic-ai/sdk';
import { check, run } from './check.mjs';

const model = process.env.MODEL;
const client = new Anthropic({
  baseURL: process.env.ASKD_URL,
  apiKey: process.env.ASKD_KEY ?? 'unused',
  maxRetries: 0,
});
const tools = [{
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string' }, days: { type: 'integer' } },
    required: ['city', 'days'],
  },
}];

await run('messages.create', async () => {
  const msg = await client.messages.create({
    model, max_tokens: 64, system: 'Answer briefly.',
    messages: [{ role: 'user', content: 'Say hello.' }],
  });
  check.equal(msg.type, 'message');
  check.equal(msg.role, 'assistant');
  check.match(msg.id, /^msg_/);
  check.equal(msg.model, model);
  check.equal(msg.content[0].type, 'text');
  check.ok(msg.content[0].text.length > 0);
  check.ok(['end_turn', 'max_tokens'].includes(msg.stop_reason), msg.stop_reason);
  check.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0);
});

await run('messages.stream', async () => {
  const stream = client.messages.stream({
    model, max_tokens: 64, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
  });
  let text = '';
  stream.on('text', (t) => { text += t; });
  const final = await stream.finalMessage();
  check.ok(text.length > 0);
  check.equal(final.content.length, 1);
  check.equal(final.content[0].text, text);
  check.ok(final.usage.output_tokens > 0);
  check.ok(['end_turn', 'max_tokens'].includes(final.stop_reason), final.stop_reason);
});

// llm-sim calls a tool when tool_choice asks for one, or (Ollama has no tool_choice) when the
// last user message holds the directive [[sim: tool]].
const callTool = ' [[sim: tool=get_weather]]';

await run('messages.create with tools', async () => {
  const first = await client.messages.create({
    model, max_tokens: 256, tools, tool_choice: { type: 'any' },
    messages: [{ role: 'user', content: 'Weather in Paris for 2 days?' + callTool }],
  });
  check.equal(first.stop_reason, 'tool_use');
  const use = first.content.find((b) => b.type === 'tool_use');
  check.ok(use, JSON.stringify(first.content));
  check.equal(use.name, 'get_weather');
  check.equal(typeof use.input.city, 'string');
  check.ok(Number.isInteger(use.input.days));
  // The tool's result goes back; the model answers in text.
  const second = await client.messages.create({
    model, max_tokens: 64, tools,
    messages: [
      { role: 'user', content: 'Weather in Paris for 2 days?' },
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'Sunny, 21 C' }] },
    ],
  });
  check.equal(second.content[0].type, 'text');
});

await run('messages.stream with tools', async () => {
  const stream = client.messages.stream({
    model, max_tokens: 256, tools, tool_choice: { type: 'tool', name: 'get_weather' },
    messages: [{ role: 'user', content: 'Weather in Oslo?' + callTool }],
  });
  const final = await stream.finalMessage();
  check.equal(final.stop_reason, 'tool_use');
  const use = final.content.find((b) => b.type === 'tool_use');
  check.ok(use, JSON.stringify(final.content));
  check.equal(use.name, 'get_weather');
  check.equal(typeof use.input.city, 'string');
});

await run('messages.stream with thinking', async () => {
  const stream = client.messages.stream({
    model, max_tokens: 512, thinking: { type: 'enabled', budget_tokens: 256 },
    messages: [{ role: 'user', content: 'Think, then answer.' }],
  });
  let thinking = '';
  stream.on('thinking', (t) => { thinking += t; });
  const final = await stream.finalMessage();
  check.ok(thinking.length > 0);
  check.equal(final.content[0].type, 'thinking');
  check.equal(final.content[0].thinking, thinking);
});

await run('errors in Anthropic shape', async () => {
  const unknown = await client.messages.create({
    model: 'no-such-model', max_tokens: 8, messages: [{ role: 'user', content: 'x' }],
  }).then(() => null, (e) => e);
  check.ok(unknown instanceof Anthropic.NotFoundError, String(unknown));
  check.equal(unknown.error.type, 'error');
  check.equal(unknown.error.error.type, 'not_found_error');
  const bad = await client.messages.create({
    model, messages: [{ role: 'user', content: 'x' }],
  }).then(() => null, (e) => e);
  check.ok(bad instanceof Anthropic.BadRequestError, String(bad));
  check.equal(bad.error.error.type, 'invalid_request_error');
  check.match(bad.error.error.message, /max_tokens/);
});

await run('messages.countTokens', async () => {
  const counted = await client.messages.countTokens({
    model, system: 'Answer briefly.', messages: [{ role: 'user', content: 'Say hello.' }],
  });
  check.ok(Number.isInteger(counted.input_tokens) && counted.input_tokens > 0);
});
