// The SSH transport against a real OpenSSH sshd on 127.0.0.1.
import { raw } from '../../src/core/shell.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, statSync, existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { openConnection, type TransportError, type ConnectOptions } from '../../src/ssh/index.js';
import type { SshTarget } from '../../src/inventory/types.js';
import { testConnectOptions, rejectsWith as expectRejection } from './helpers/expect.js';
import { TestSshd, genKey, knownHostsLine, freePort } from './helpers/sshd.js';

let sshd: TestSshd;
let tmp: string;
let knownHosts: string;

before(async () => {
  sshd = await new TestSshd().start();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'provision-conn-'));
  knownHosts = path.join(tmp, 'known_hosts');
  writeFileSync(knownHosts, knownHostsLine(sshd.port, sshd.hostKey) + '\n');
});

after(async () => {
  await sshd?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function target(over: Partial<SshTarget> = {}): SshTarget {
  return {
    name: 'rs1',
    address: '127.0.0.1',
    port: sshd.port,
    user: 'root',
    privateKeyFile: sshd.clientKey.privateKeyFile,
    knownHostsFile: knownHosts,
    become: false,
    ...over,
  };
}

const opts = (over: Partial<ConnectOptions> = {}): ConnectOptions => testConnectOptions({ connectTimeoutMs: 5000, ...over });
const rejectsWith = (p: Promise<unknown>, kind: TransportError['kind'], msg?: RegExp) => expectRejection(p, kind, msg, 'rs1');

test('exec returns exit code, stdout and stderr separately', async () => {
  const c = await openConnection(target(), opts());
  try {
    const r = await c.exec(raw(`echo out; echo "it's err" >&2; exit 3`));
    assert.deepEqual(r, { code: 3, stdout: 'out\n', stdoutBytes: Buffer.from('out\n'), stderr: "it's err\n" });
    const ok = await c.exec(raw('id -u'));
    assert.deepEqual(ok, { code: 0, stdout: '0\n', stdoutBytes: Buffer.from('0\n'), stderr: '' });
    // The bytes as sent: what is no UTF-8 (a file's raw content) survives there, not in the text.
    const bin = await c.exec(raw(`printf 'a\\377\\376\\000\\303'`));
    assert.deepEqual([...bin.stdoutBytes!], [0x61, 0xff, 0xfe, 0x00, 0xc3]);
    assert.equal(bin.stdout, 'a\ufffd\ufffd\u0000\ufffd');
  } finally {
    await c.close();
  }
});

test('exec runs the script with /bin/sh even when it has shell syntax and quotes', async () => {
  const c = await openConnection(target(), opts());
  try {
    const r = await c.exec(raw(`x='a b'; for w in $x "c'd"; do printf '[%s]' "$w"; done; echo; readlink /proc/$$/exe`));
    assert.equal(r.code, 0, r.stderr);
    const [words, shell] = r.stdout.trim().split('\n');
    assert.equal(words, "[a][b][c'd]");
    assert.equal(shell, execFileSync('readlink', ['-f', '/bin/sh'], { encoding: 'utf8' }).trim());
  } finally {
    await c.close();
  }
});

test('exec feeds stdin (string and binary) then EOF; no stdin means immediate EOF', async () => {
  const c = await openConnection(target(), opts());
  try {
    assert.equal((await c.exec(raw('cat'), { stdin: 'hello\nworld' })).stdout, 'hello\nworld');
    const blob = randomBytes(300_000);
    const r = await c.exec(raw('sha256sum | cut -d" " -f1'), { stdin: blob });
    assert.equal(r.stdout.trim(), createHash('sha256').update(blob).digest('hex'));
    const empty = await c.exec(raw('cat; echo done'), { timeoutMs: 5000 });
    assert.equal(empty.stdout, 'done\n');
  } finally {
    await c.close();
  }
});

test('a command killed by a signal reports 128+n', async () => {
  const c = await openConnection(target(), opts());
  try {
    const r = await c.exec(raw('kill -TERM $$; sleep 5'));
    assert.equal(r.code, 128 + 15);
  } finally {
    await c.close();
  }
});

test('20 parallel execs on one connection all succeed, never more than maxChannels at once', async (t) => {
  const c = await openConnection(target(), opts({ maxChannels: 8 }));
  try {
    const t0 = Date.now();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => c.exec(raw(`s=$(date +%s%N); sleep 0.3; e=$(date +%s%N); echo ${i} $s $e`))));
    const elapsed = Date.now() - t0;
    const spans = results.map((r, i) => {
      assert.equal(r.code, 0, r.stderr);
      const [n, s, e] = r.stdout.trim().split(' ');
      assert.equal(n, String(i));
      return [BigInt(s!), BigInt(e!)] as const;
    });
    // Most commands running at the same moment, as measured on the server.
    const events = spans
      .flatMap(
        ([s, e]) =>
          [
            [s, 1],
            [e, -1],
          ] as const,
      )
      .sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1));
    let now = 0;
    let overlap = 0;
    for (const [, d] of events) overlap = Math.max(overlap, (now += d));
    assert.ok(overlap >= 4 && overlap <= 8, `server saw ${overlap} commands at once; expected concurrency capped at 8`);
    assert.equal((c as unknown as { peakChannels: number }).peakChannels, 8, 'the client should use all 8 channels, never more');
    t.diagnostic(`20 execs of 0.3s over 8 channels: ${elapsed}ms, server-side overlap ${overlap}`);
  } finally {
    await c.close();
  }
});

test('onCommand sees each command', async () => {
  const seen: string[] = [];
  const c = await openConnection(target(), opts({ onCommand: (h, d) => seen.push(`${h}: ${d}`) }));
  try {
    await c.exec(raw('true'));
    assert.deepEqual(seen, ['rs1: true']);
  } finally {
    await c.close();
  }
});

test('upload writes atomically (new inode via rename), sets the mode, leaves no temp file', async () => {
  const c = await openConnection(target(), opts());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'provision-up-'));
  try {
    const remote = path.join(dir, 'conf file.txt');
    const local = path.join(tmp, 'local.txt');
    writeFileSync(remote, 'old\n');
    const inodeBefore = statSync(remote).ino;
    const content = 'new content\n'.repeat(5000);
    writeFileSync(local, content);
    await c.upload(local, remote, 0o640);
    assert.equal(readFileSync(remote, 'utf8'), content);
    assert.equal(statSync(remote).mode & 0o777, 0o640);
    assert.notEqual(statSync(remote).ino, inodeBefore, 'the file must be replaced by rename, not rewritten in place');
    const left = execFileSync('ls', ['-A', dir], { encoding: 'utf8' }).trim().split('\n');
    assert.deepEqual(left, ['conf file.txt']);
    // Mode bits beyond the umask survive (the server umask must not trim them).
    await c.upload(local, remote, 0o777);
    assert.equal(statSync(remote).mode & 0o777, 0o777);
  } finally {
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('upload of a missing local file and into a missing directory fail as sftp errors', async () => {
  const c = await openConnection(target(), opts());
  try {
    await rejectsWith(c.upload(path.join(tmp, 'nope'), '/tmp/x'), 'sftp', /cannot read local file/);
    const local = path.join(tmp, 'l2.txt');
    writeFileSync(local, 'x');
    await rejectsWith(c.upload(local, '/nonexistent-dir-provision/x'), 'sftp', /nonexistent-dir-provision/);
    // The connection is still fine afterwards.
    assert.equal((await c.exec(raw('echo ok'))).stdout, 'ok\n');
  } finally {
    await c.close();
  }
});

function keygenFingerprint(pubFile: string): string {
  // "256 SHA256:xxxx comment (ED25519)"
  return execFileSync('ssh-keygen', ['-lf', pubFile], { encoding: 'utf8' }).split(' ')[1]!;
}

test('unknown host key is refused with the fingerprint and a hint; known_hosts untouched', async () => {
  const kh = path.join(tmp, 'kh-unknown');
  const e = await rejectsWith(openConnection(target({ knownHostsFile: kh }), opts()), 'hostkey-unknown');
  const fp = keygenFingerprint(`${sshd.hostKey.privateKeyFile}.pub`);
  assert.equal(e.message, `rs1 (127.0.0.1:${sshd.port}): host key not in ${kh} (ED25519 ${fp}). Verify it and add it, or run with --accept-new-host-keys`);
  assert.equal(existsSync(kh), false);
});

test('acceptNewHostKeys records the key (0600, dir created); the next connect matches without it', async () => {
  const kh = path.join(tmp, 'newdir', 'sub', 'known_hosts');
  const c1 = await openConnection(target({ knownHostsFile: kh }), opts({ acceptNewHostKeys: true }));
  await c1.close();
  assert.equal(readFileSync(kh, 'utf8'), knownHostsLine(sshd.port, sshd.hostKey) + '\n');
  assert.equal(statSync(kh).mode & 0o777, 0o600);
  // ssh itself agrees with what we wrote.
  const found = execFileSync('ssh-keygen', ['-F', `[127.0.0.1]:${sshd.port}`, '-f', kh], { encoding: 'utf8' });
  assert.match(found, /ssh-ed25519/);
  const c2 = await openConnection(target({ knownHostsFile: kh }), opts({ acceptNewHostKeys: false }));
  assert.equal((await c2.exec(raw('echo again'))).stdout, 'again\n');
  await c2.close();
  assert.equal(readFileSync(kh, 'utf8').split('\n').filter(Boolean).length, 1, 'no duplicate entry');
});

test('a changed host key is refused even with acceptNewHostKeys, and the file is not modified', async () => {
  const kh = path.join(tmp, 'kh-changed');
  const other = genKey(tmp, 'other_host_key');
  const text = knownHostsLine(sshd.port, other) + '\n';
  writeFileSync(kh, text);
  const e = await rejectsWith(openConnection(target({ knownHostsFile: kh }), opts({ acceptNewHostKeys: true })), 'hostkey-changed', /HOST KEY CHANGED/);
  assert.match(e.message, /does not override/);
  assert.ok(e.message.includes(keygenFingerprint(`${sshd.hostKey.privateKeyFile}.pub`)));
  assert.equal(readFileSync(kh, 'utf8'), text);
});

test('a revoked host key is refused even when also listed as trusted', async () => {
  const kh = path.join(tmp, 'kh-revoked');
  const b64 = sshd.hostKey.blob.toString('base64');
  writeFileSync(kh, `${knownHostsLine(sshd.port, sshd.hostKey)}\n@revoked * ssh-ed25519 ${b64}\n`);
  await rejectsWith(openConnection(target({ knownHostsFile: kh }), opts({ acceptNewHostKeys: true })), 'hostkey-revoked', /@revoked/);
});

test('a hashed known_hosts entry written by ssh-keygen -H is accepted', async () => {
  const kh = path.join(tmp, 'kh-hashed');
  writeFileSync(kh, knownHostsLine(sshd.port, sshd.hostKey) + '\n');
  execFileSync('ssh-keygen', ['-H', '-f', kh], { stdio: 'pipe' });
  assert.match(readFileSync(kh, 'utf8'), /^\|1\|/);
  const c = await openConnection(target({ knownHostsFile: kh }), opts());
  assert.equal((await c.exec(raw('echo hashed'))).stdout, 'hashed\n');
  await c.close();
});

test('a key the server does not authorize fails as auth, naming what was tried, without retries', async () => {
  const wrong = genKey(tmp, 'unauthorized_key');
  const t0 = Date.now();
  const e = await rejectsWith(openConnection(target({ privateKeyFile: wrong.privateKeyFile }), opts({ retries: 3, retryDelayMs: 1000 })), 'auth');
  assert.ok(e.message.includes(`publickey ${wrong.privateKeyFile}`), e.message);
  assert.match(e.message, /authentication failed for user root/);
  assert.ok(Date.now() - t0 < 1000, 'auth failures must not be retried');
});

test('a missing or encrypted private key is a readable auth error before dialling', async () => {
  const missing = path.join(tmp, 'no-such-key');
  await rejectsWith(openConnection(target({ privateKeyFile: missing }), opts()), 'auth', new RegExp(`private key ${missing} does not exist`));
  const enc = genKey(tmp, 'encrypted_key', 'ed25519', 'secret-pass');
  await rejectsWith(
    openConnection(target({ privateKeyFile: enc.privateKeyFile }), opts({ keyPassphraseEnv: 'PROV_KEY_PASS' })),
    'auth',
    /is encrypted and no passphrase is available \(env PROV_KEY_PASS is not set\)/,
  );
  // With the passphrase from the env var, the (authorized) encrypted key works.
  writeFileSync(sshd.authorizedKeysFile, `${sshd.clientKey.publicKey}\n${enc.publicKey}\n`);
  const c = await openConnection(
    target({ privateKeyFile: enc.privateKeyFile }),
    opts({ keyPassphraseEnv: 'PROV_KEY_PASS', env: { PROV_KEY_PASS: 'secret-pass' } }),
  );
  assert.equal((await c.exec(raw('echo unlocked'))).stdout, 'unlocked\n');
  await c.close();
  writeFileSync(sshd.authorizedKeysFile, `${sshd.clientKey.publicKey}\n`);
});

// A key's parse is kept for the run (every host logs in with it): only for the same bytes and passphrase.
test('a key file replaced between connections, or another passphrase, is parsed again', async () => {
  const rotating = genKey(tmp, 'rotating_key');
  writeFileSync(sshd.authorizedKeysFile, `${sshd.clientKey.publicKey}\n${rotating.publicKey}\n`);
  try {
    const c = await openConnection(target({ privateKeyFile: rotating.privateKeyFile }), opts());
    assert.equal((await c.exec(raw('echo first'))).stdout, 'first\n');
    await c.close();
    // Same path, another (unauthorized) key: refused, so the new bytes were used, not the last parse.
    const other = genKey(tmp, 'rotating_other');
    writeFileSync(rotating.privateKeyFile, readFileSync(other.privateKeyFile));
    await rejectsWith(openConnection(target({ privateKeyFile: rotating.privateKeyFile }), opts()), 'auth', /authentication failed/);
    // An encrypted key: a wrong passphrase fails, the right one (same bytes) then works.
    const enc = genKey(tmp, 'rotating_enc', 'ed25519', 'right-pass');
    writeFileSync(sshd.authorizedKeysFile, `${sshd.clientKey.publicKey}\n${enc.publicKey}\n`);
    const withPass = (pass: string) => opts({ keyPassphraseEnv: 'PROV_KEY_PASS', env: { PROV_KEY_PASS: pass } });
    await rejectsWith(openConnection(target({ privateKeyFile: enc.privateKeyFile }), withPass('wrong-pass')), 'auth', /could not be decrypted/);
    const d = await openConnection(target({ privateKeyFile: enc.privateKeyFile }), withPass('right-pass'));
    assert.equal((await d.exec(raw('echo unlocked'))).stdout, 'unlocked\n');
    await d.close();
  } finally {
    writeFileSync(sshd.authorizedKeysFile, `${sshd.clientKey.publicKey}\n`);
  }
});

test('ssh-agent from SSH_AUTH_SOCK is used when no key file works', async () => {
  const sock = path.join(tmp, 'agent.sock');
  const agentOut = execFileSync('ssh-agent', ['-s', '-a', sock], { encoding: 'utf8' });
  const agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(agentOut)![1]);
  try {
    execFileSync('ssh-add', [sshd.clientKey.privateKeyFile], { env: { SSH_AUTH_SOCK: sock }, stdio: 'pipe' });
    const wrong = genKey(tmp, 'agent_case_wrong_key');
    const c = await openConnection(target({ privateKeyFile: wrong.privateKeyFile }), opts({ env: { SSH_AUTH_SOCK: sock } }));
    assert.equal((await c.exec(raw('echo agent'))).stdout, 'agent\n');
    await c.close();
  } finally {
    process.kill(agentPid, 'SIGTERM');
  }
});

test('a closed port is unreachable, after the configured retries with backoff', async () => {
  const port = await freePort();
  const t0 = Date.now();
  const e = await rejectsWith(openConnection(target({ port }), opts({ retries: 2, retryDelayMs: 100 })), 'unreachable', /ECONNREFUSED/);
  const elapsed = Date.now() - t0;
  assert.match(e.message, /after 3 attempts/);
  assert.equal(e.endpoint, `127.0.0.1:${port}`);
  assert.ok(elapsed >= 300 && elapsed < 3000, `100ms + 200ms of backoff expected, took ${elapsed}ms`);
});

test('a server that accepts TCP but never speaks SSH times out', async () => {
  const sockets: net.Socket[] = [];
  const silent = net.createServer((s) => sockets.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as net.AddressInfo).port;
  try {
    const t0 = Date.now();
    await rejectsWith(openConnection(target({ port }), opts({ connectTimeoutMs: 400 })), 'timeout', /no SSH handshake within 400ms/);
    assert.ok(Date.now() - t0 < 2000);
  } finally {
    sockets.forEach((s) => s.destroy());
    silent.close();
  }
});

function running(pattern: string): boolean {
  try {
    execFileSync('pgrep', ['-f', pattern], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

test('an exec over its timeout rejects as timeout, kills the command, and the connection stays usable', async () => {
  const c = await openConnection(target(), opts());
  try {
    const t0 = Date.now();
    await rejectsWith(c.exec(raw('sleep 4711'), { timeoutMs: 300 }), 'timeout', /within 300ms: sleep 4711/);
    assert.ok(Date.now() - t0 < 1500);
    assert.equal((await c.exec(raw('echo still here'))).stdout, 'still here\n');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(running('sleep 4711'), false, 'the remote command must be killed');
  } finally {
    await c.close();
  }
});

test('a connection killed mid-exec rejects pending and later execs as channel errors', async () => {
  const c = await openConnection(target(), opts({ keepaliveIntervalMs: 500 }));
  const pending = [c.exec(raw('sleep 4712')), c.exec(raw('sleep 4712'))];
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(sshd.killSessions() > 0, 'there should be a session to kill');
  const t0 = Date.now();
  for (const p of pending) await rejectsWith(p, 'channel', /connection lost/);
  assert.ok(Date.now() - t0 < 3000);
  await rejectsWith(c.exec(raw('true')), 'channel');
  await c.close();
});

test('exec after close rejects as a channel error', async () => {
  const c = await openConnection(target(), opts());
  await c.close();
  await rejectsWith(c.exec(raw('true')), 'channel', /closed/);
});

test('ssh config supplies HostName, Port, User and IdentityFile for an alias', async () => {
  const cfg = path.join(tmp, 'ssh_config');
  writeFileSync(cfg, `Host rs1\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User root\n  IdentityFile ${sshd.clientKey.privateKeyFile}\n`);
  // Inventory left address/port/user/key at their defaults.
  const c = await openConnection({ name: 'rs1', address: 'rs1', port: 22, user: '', knownHostsFile: knownHosts, become: false }, opts({ sshConfigFile: cfg }));
  assert.equal((await c.exec(raw('echo via-config'))).stdout, 'via-config\n');
  await c.close();
});

test('ProxyJump goes through the jump host (and fails when it refuses forwarding)', async () => {
  const cfg = path.join(tmp, 'ssh_config_jump');
  writeFileSync(
    cfg,
    `Host jumpbox\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User root\nHost jumpbox 127.0.0.1\n  IdentityFile ${sshd.clientKey.privateKeyFile}\n`,
  );
  const c = await openConnection(target({ proxyJump: 'jumpbox' }), opts({ sshConfigFile: cfg }));
  const r = await c.exec(raw('echo "$SSH_CONNECTION"'));
  await c.close();
  // Through a tunnel, the inner connection comes from sshd's own forwarding socket.
  assert.match(r.stdout, /^127\.0\.0\.1 \d+ 127\.0\.0\.1 \d+\n$/);

  const noFwd = await new TestSshd({ extraConfig: ['AllowTcpForwarding no'] }).start();
  try {
    writeFileSync(noFwd.authorizedKeysFile, sshd.clientKey.publicKey + '\n');
    writeFileSync(knownHosts, `${knownHostsLine(sshd.port, sshd.hostKey)}\n${knownHostsLine(noFwd.port, noFwd.hostKey)}\n`);
    await rejectsWith(
      openConnection(target({ proxyJump: `root@127.0.0.1:${noFwd.port}` }), opts({ sshConfigFile: cfg, env: {} })),
      'unreachable',
      /jump host 127\.0\.0\.1 cannot reach/,
    );
  } finally {
    await noFwd.stop();
    writeFileSync(knownHosts, knownHostsLine(sshd.port, sshd.hostKey) + '\n');
  }
});
