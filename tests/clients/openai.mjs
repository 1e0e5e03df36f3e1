// The openai SDK (what Codex and most OpenAI-style tools are built on) against askd's
// /v1/chat/completions, /v1/responses and /v1/models.
// Env: ASKD_URL (http://127.0.0.1:PORT), MODEL (a logical model served by llm-sim),
// ASKD_KEY (optional). Exits non-zero with the failed check on stderr.
import OpenAI from 'openai';
import { check, run } from './check.mjs';

const model = process.env.MODEL;
const client = new OpenAI({
  baseURL: `${process.env.ASKD_URL}/v1`,
  apiKey: process.env.ASKD_KEY ?? 'unused',
  maxRetries: 0,
});
const tools = [{
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' }, days: { type: 'integer' } },
    required: ['city', 'days'],
  },
}];

await run('models.list and models.retrieve', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  check.ok(ids.includes(model), ids.join(','));
  const one = await client.models.retrieve(model);
  check.equal(one.id, model);
  const missing = await client.models.retrieve('no-such-model').then(() => null, (e) => e);
  check.ok(missing instanceof OpenAI.NotFoundError, String(missing));
});

await run('chat.completions.create, streamed and not', async () => {
  const r = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 32,
  });
  check.ok(r.choices[0].message.content.length > 0);
  const stream = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 32, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    usage = chunk.usage ?? usage;
  }
  check.ok(text.length > 0);
  check.ok(usage.completion_tokens > 0);
});

await run('responses.create', async () => {
  const r = await client.responses.create({
    model, instructions: 'Answer briefly.', input: 'Say hello.', max_output_tokens: 64,
  });
  check.equal(r.object, 'response');
  check.match(r.id, /^resp_/);
  check.ok(['completed', 'incomplete'].includes(r.status), r.status);
  check.ok(r.output_text.length > 0);
  check.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
});

await run('responses.create streamed', async () => {
  const stream = await client.responses.create({
    model, input: [{ role: 'user', content: [{ type: 'input_text', text: 'Hi' }] }], stream: true,
  });
  let text = '';
  let completed = null;
  let last = -1;
  for await (const event of stream) {
    check.ok(event.sequence_number > last, `sequence ${event.sequence_number} after ${last}`);
    last = event.sequence_number;
    if (event.type === 'response.output_text.delta') text += event.delta;
    if (event.type === 'response.completed') completed = event.response;
  }
  check.ok(text.length > 0);
  check.ok(completed, 'no response.completed event');
  check.equal(completed.output_text ?? completed.output[0].content[0].text, text);
});

// llm-sim calls a tool when tool_choice asks for one, or (Ollama has no tool_choice) when the
// last user message holds the directive [[sim: tool]].
const callTool = ' [[sim: tool=get_weather]]';

await run('responses with a function tool, and its output sent back', async () => {
  const first = await client.responses.create({
    model, input: 'Weather in Paris for 2 days?' + callTool, tools, tool_choice: 'required',
  });
  const call = first.output.find((o) => o.type === 'function_call');
  check.ok(call, JSON.stringify(first.output));
  check.equal(call.name, 'get_weather');
  const args = JSON.parse(call.arguments);
  check.equal(typeof args.city, 'string');
  const second = await client.responses.create({
    model, tools,
    input: [
      { role: 'user', content: 'Weather in Paris for 2 days?' },
      { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
      { type: 'function_call_output', call_id: call.call_id, output: 'Sunny, 21 C' },
    ],
  });
  check.ok(second.output_text.length > 0);
});

await run('responses: previous_response_id is refused clearly', async () => {
  const e = await client.responses.create({
    model, input: 'more', previous_response_id: 'resp_123',
  }).then(() => null, (err) => err);
  check.ok(e instanceof OpenAI.BadRequestError, String(e));
  check.match(e.message, /previous_response_id/);
});
