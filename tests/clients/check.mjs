// The little harness the client scripts share: each check group prints "ok NAME"; the first
// failure prints the group, the message and the stack on stderr and exits 1.
import assert from 'node:assert/strict';

export const check = assert;

export async function run(name, fn) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    console.error(`FAILED ${name}: ${e?.stack ?? e}`);
    process.exit(1);
  }
}
