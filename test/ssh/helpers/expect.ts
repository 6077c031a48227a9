// Shared assertions and options for the SSH layer's tests.
import assert from 'node:assert/strict';
import { TransportError, type ConnectOptions } from '../../../src/ssh/index.js';

/** Options that keep the test machine's ~/.ssh/config and environment out, no retries. */
export const testConnectOptions = (over: Partial<ConnectOptions> = {}): ConnectOptions => ({
  acceptNewHostKeys: false,
  sshConfigFile: '/dev/null',
  env: {},
  retries: 0,
  ...over,
});

/** Asserts `p` rejects with a TransportError of `kind` (and `host`, `msg` when given). */
export async function rejectsWith(p: Promise<unknown>, kind: TransportError['kind'], msg?: RegExp, host?: string): Promise<TransportError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TransportError, `expected TransportError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    if (host !== undefined) assert.equal(e.host, host);
    if (msg) assert.match(e.message, msg);
    return e;
  }
  assert.fail(`expected TransportError(${kind}), but it resolved`);
}
