// The official `openai` npm SDK (a client nobody here wrote) driving `dsvl serve`: chat completion,
// streaming, an image as a data: URI, a cached second turn, models, and the SDK's error classes for
// 401 and 400. Usage: node sdk_client_test.mjs DSVL_BINARY CHECKPOINT_DIR IMAGE_FILE
// Fails (exit 1) when the SDK is not installed: run scripts/install-deps.sh (npm ci here).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

let OpenAI;
try {
  ({ default: OpenAI } = await import('openai'));
} catch (e) {
  console.error('FAIL: the openai npm package is not installed in tests/serve/sdk ' +
                '(run scripts/install-deps.sh, which runs `npm ci` there): ' + e.message);
  process.exit(1);
}

const [bin, ckpt, imagePath] = process.argv.slice(2);
if (!bin || !ckpt || !imagePath) {
  console.error('usage: node sdk_client_test.mjs DSVL_BINARY CHECKPOINT_DIR IMAGE_FILE');
  process.exit(2);
}

const server = spawn(bin, ['serve', '-m', ckpt, '--port', '0', '-t', '1', '--api-key', 'sdk-key', '--alias', 'tiny'],
                     { stdio: ['ignore', 'inherit', 'pipe'] });
let log = '';
const ready = new Promise((resolve, reject) => {
  server.stderr.on('data', (d) => {
    log += d.toString();
    const m = log.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    if (m && log.includes('model loaded')) resolve(Number(m[1]));
  });
  server.on('exit', (code) => reject(new Error(`dsvl serve exited early (${code}):\n${log}`)));
  setTimeout(() => reject(new Error(`dsvl serve did not start:\n${log}`)), 30000).unref();
});
const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));

async function main() {
  const port = await ready;
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'sdk-key', maxRetries: 0 });

  const models = await client.models.list();
  assert.equal(models.data[0].id, 'tiny');

  const ask = { model: 'tiny', messages: [{ role: 'user', content: 'Hello from the SDK' }], max_tokens: 8,
                temperature: 0 };
  const reply = await client.chat.completions.create(ask);
  assert.equal(reply.object, 'chat.completion');
  assert.equal(reply.choices[0].message.role, 'assistant');
  assert.equal(typeof reply.choices[0].message.content, 'string');
  assert.ok(reply.usage.prompt_tokens > 0 && reply.usage.completion_tokens > 0);

  let streamed = '';
  let usage = null;
  let finish = null;
  const stream = await client.chat.completions.create({ ...ask, stream: true, stream_options: { include_usage: true } });
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.choices.length > 0) {
      streamed += chunk.choices[0].delta.content ?? '';
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(streamed, reply.choices[0].message.content);
  assert.equal(finish, reply.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, reply.usage.completion_tokens);

  const dataUri = 'data:image/jpeg;base64,' + readFileSync(imagePath).toString('base64');
  const turn1 = [{ role: 'user', content: [{ type: 'image_url', image_url: { url: dataUri } },
                                           { type: 'text', text: 'Describe this image.' }] }];
  const first = await client.chat.completions.create({ model: 'tiny', messages: turn1, max_tokens: 6, temperature: 0 });
  assert.ok(first.usage.prompt_tokens > 1023, `image prompt tokens ${first.usage.prompt_tokens}`);
  const turn2 = [...turn1, first.choices[0].message, { role: 'user', content: 'And the colours?' }];
  const second = await client.chat.completions.create({ model: 'tiny', messages: turn2, max_tokens: 6, temperature: 0 });
  assert.ok(second.usage.prompt_tokens_details.cached_tokens > 1023,
            `cached tokens ${JSON.stringify(second.usage)}`);

  const wrongKey = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'nope', maxRetries: 0 });
  await assert.rejects(wrongKey.chat.completions.create(ask), (e) => e instanceof OpenAI.AuthenticationError);
  await assert.rejects(client.chat.completions.create({ ...ask, messages: [{ role: 'wizard', content: 'x' }] }),
                       (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.code === 'invalid_role');

  const t0 = Date.now();
  server.kill('SIGTERM');
  const { code } = await exited;
  console.log(`dsvl serve stopped ${Date.now() - t0} ms after SIGTERM`);
  assert.equal(code, 0, `dsvl serve exit status after SIGTERM:\n${log}`);
  console.log('openai SDK test: all checks passed');
}

main().catch((e) => {
  console.error('FAIL:', e);
  server.kill('SIGKILL');
  process.exit(1);
});
