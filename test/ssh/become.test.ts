// Non-root logins against a real sshd: password auth, running as is, and become via sudo.
// Needs root (useradd) and the `sudo` package on the test machine.
import { raw } from '../../src/core/shell.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, statSync, rmSync, existsSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openConnection } from '../../src/ssh/index.js';
import type { SshTarget } from '../../src/inventory/types.js';
import { testConnectOptions, rejectsWith as expectRejection } from './helpers/expect.js';
import { TestSshd, knownHostsLine, hasSudo } from './helpers/sshd.js';

const NOPASS_USER = 'provtest';
const PASS_USER = 'provtestpw';
const SUDOERS = '/etc/sudoers.d/provision-test';
const password = randomBytes(12).toString('hex');
const created: string[] = [];
let sshd: TestSshd;
let tmp: string;
let knownHosts: string;

function userExists(name: string): boolean {
  try {
    execFileSync('id', [name], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

function ensureUser(name: string): void {
  if (!userExists(name)) {
    execFileSync('useradd', ['-m', '-s', '/bin/sh', name], { stdio: 'pipe' });
    created.push(name);
  }
  // A set password also unlocks the account (sshd without PAM refuses locked ones).
  execFileSync('chpasswd', [], { input: `${name}:${password}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'these tests create users and must run as root');
  ensureUser(NOPASS_USER);
  ensureUser(PASS_USER);
  if (existsSync('/etc/sudoers.d')) {
    writeFileSync(SUDOERS, `${NOPASS_USER} ALL=(ALL) NOPASSWD: ALL\n${PASS_USER} ALL=(ALL) ALL\n`, { mode: 0o440 });
  }
  sshd = await new TestSshd().start();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'provision-become-'));
  chmodSync(tmp, 0o755);
  knownHosts = path.join(tmp, 'known_hosts');
  writeFileSync(knownHosts, knownHostsLine(sshd.port, sshd.hostKey) + '\n');
});

after(async () => {
  await sshd?.stop();
  rmSync(SUDOERS, { force: true });
  for (const u of created) execFileSync('userdel', ['-r', u], { stdio: 'pipe' });
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function target(over: Partial<SshTarget> = {}): SshTarget {
  return {
    name: 'rs1',
    address: '127.0.0.1',
    port: sshd.port,
    user: NOPASS_USER,
    privateKeyFile: sshd.clientKey.privateKeyFile,
    knownHostsFile: knownHosts,
    become: true,
    ...over,
  };
}

const opts = testConnectOptions;
const rejectsWith = expectRejection;

function requireSudo(): void {
  assert.ok(hasSudo(), 'sudo is not installed on this machine: apt-get install -y sudo');
}

test('a non-root login runs commands as itself unless become is asked for', async () => {
  const c = await openConnection(target(), opts());
  try {
    assert.equal((await c.exec(raw('id -un'))).stdout, `${NOPASS_USER}\n`);
    assert.equal((await c.exec(raw('id -un'), { become: false })).stdout, `${NOPASS_USER}\n`);
  } finally {
    await c.close();
  }
});

test('password auth reads the password from the named env var; a wrong one is an auth error that hides it', async () => {
  const c = await openConnection(target({ privateKeyFile: undefined, passwordEnv: 'PROV_SSH_PW' }), opts({ env: { PROV_SSH_PW: password } }));
  assert.equal((await c.exec(raw('id -un'))).stdout, `${NOPASS_USER}\n`);
  await c.close();
  const wrong = 'not-the-password-' + randomBytes(4).toString('hex');
  const e = await rejectsWith(
    openConnection(target({ privateKeyFile: undefined, passwordEnv: 'PROV_SSH_PW' }), opts({ env: { PROV_SSH_PW: wrong } })),
    'auth',
    /password from env PROV_SSH_PW/,
  );
  assert.ok(!e.message.includes(wrong));
});

test('become with NOPASSWD sudo runs as root with root HOME, and stdin reaches the script', async () => {
  requireSudo();
  const c = await openConnection(target(), opts());
  try {
    const r = await c.exec(raw('id -u; echo "$HOME"; cat'), { become: true, stdin: 'payload\n' });
    assert.deepEqual(r, { code: 0, stdout: '0\n/root\npayload\n', stdoutBytes: Buffer.from('0\n/root\npayload\n'), stderr: '' });
    const f = await c.exec(raw('echo oops >&2; exit 4'), { become: true });
    assert.deepEqual(f, { code: 4, stdout: '', stdoutBytes: Buffer.alloc(0), stderr: 'oops\n' }, 'a failing script is a result, not a sudo error');
  } finally {
    await c.close();
  }
});

test('become with a sudo password feeds it to sudo only; the script never sees it on stdin', async () => {
  requireSudo();
  const c = await openConnection(target({ user: PASS_USER, becomePasswordEnv: 'PROV_SUDO_PW' }), opts({ env: { PROV_SUDO_PW: password } }));
  try {
    // Run twice: the second time sudo has cached credentials and does not prompt.
    for (let i = 0; i < 2; i++) {
      const r = await c.exec(raw('id -u; cat'), { become: true, stdin: 'data-only\n' });
      assert.deepEqual(r, { code: 0, stdout: '0\ndata-only\n', stdoutBytes: Buffer.from('0\ndata-only\n'), stderr: '' });
    }
  } finally {
    await c.close();
  }
});

test('a wrong sudo password or a missing sudo rule is an auth error, not a task result', async () => {
  requireSudo();
  const wrong = 'wrong-' + randomBytes(4).toString('hex');
  const c = await openConnection(target({ user: PASS_USER, becomePasswordEnv: 'PROV_SUDO_PW' }), opts({ env: { PROV_SUDO_PW: wrong } }));
  try {
    const e = await rejectsWith(c.exec(raw('id -u'), { become: true, timeoutMs: 15_000 }), 'auth', /sudo refused/);
    assert.ok(!e.message.includes(wrong));
  } finally {
    await c.close();
  }
  // The password user without a password to give: sudo -n refuses.
  const c2 = await openConnection(target({ user: PASS_USER }), opts());
  try {
    await rejectsWith(c2.exec(raw('id -u'), { become: true }), 'auth', /password is required/);
  } finally {
    await c2.close();
  }
});

test('upload with become stages in /tmp and installs the file as root, atomically, with the mode', async () => {
  requireSudo();
  const c = await openConnection(target(), opts());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'provision-rootonly-')); // 0700 root: the login user cannot write here
  try {
    const local = path.join(tmp, 'payload.conf');
    writeFileSync(local, 'root-owned\n');
    const remote = path.join(dir, 'target.conf');
    await c.upload(local, remote, 0o600);
    assert.equal(readFileSync(remote, 'utf8'), 'root-owned\n');
    const st = statSync(remote);
    assert.equal(st.uid, 0);
    assert.equal(st.mode & 0o777, 0o600);
    assert.deepEqual(execFileSync('ls', ['-A', dir], { encoding: 'utf8' }).trim().split('\n'), ['target.conf']);
    const staged = execFileSync('sh', ['-c', 'ls -A /tmp | grep -c "^.provision-upload-" || true'], { encoding: 'utf8' }).trim();
    assert.equal(staged, '0', 'the staged copy in /tmp is removed');
  } finally {
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a non-root exec over its timeout is killed on the host', async () => {
  const c = await openConnection(target(), opts());
  try {
    await rejectsWith(c.exec(raw('sleep 4713'), { timeoutMs: 300 }), 'timeout');
    await new Promise((r) => setTimeout(r, 300));
    const still = (await c.exec(raw('ps -eo args | grep -c "^sleep 4713" || true'))).stdout.trim();
    assert.equal(still, '0');
  } finally {
    await c.close();
  }
});
