// The run lock: one holder at a time in the state dir and on a host; the refusal names the holder
// and since when; a holder from this controller whose process is gone is taken over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { LockError, acquireControllerLock, hostLockScript, hostUnlockScript, lockOwner, lockingConnect, parseHostLock } from '../../src/core/run-lock.js';
import { localConnection, sh } from './helpers/local-host.js';

/** A pid that is not running (a child that has exited). */
const deadPid = () => spawnSync('true').pid!;

test('controller lock: the second run is refused naming the holder and since when; released = free again', () => {
  const dir = mkdtempSync(join(tmpdir(), 'provision-lock-'));
  const first = acquireControllerLock(dir, { ...lockOwner('up site'), pid: process.pid });
  assert.throws(
    () => acquireControllerLock(dir, lockOwner('drain rs2')),
    (e: Error) => {
      assert.ok(e instanceof LockError);
      assert.match(e.message, new RegExp(`is locked by .+@${hostname()} \\(pid ${process.pid}, up site\\) since \\d{4}-\\d\\d-\\d\\dT`));
      return true;
    },
  );
  first.release();
  assert.equal(existsSync(join(dir, 'lock')), false);
  acquireControllerLock(dir, lockOwner('drain rs2')).release();
});

test("controller lock: a holder of this controller whose process is gone is stale and taken over; another controller's is not", () => {
  const dir = mkdtempSync(join(tmpdir(), 'provision-lock-'));
  mkdirSync(join(dir, 'lock'));
  writeFileSync(join(dir, 'lock/owner.json'), JSON.stringify({ ...lockOwner('up site'), pid: deadPid() }));
  const l = acquireControllerLock(dir, lockOwner('up site'));
  assert.equal(JSON.parse(readFileSync(join(dir, 'lock/owner.json'), 'utf8')).pid, process.pid);
  l.release();
  mkdirSync(join(dir, 'lock'));
  writeFileSync(join(dir, 'lock/owner.json'), JSON.stringify({ ...lockOwner('up site'), controller: 'other-laptop', pid: deadPid() }));
  assert.throws(() => acquireControllerLock(dir, lockOwner('up')), /locked by .+@other-laptop/);
});

test('host lock script (run by sh): one holder; the other sees its record; unlock only removes our own', async () => {
  const lock = join(mkdtempSync(join(tmpdir(), 'provision-hostlock-')), 'var/lib/provision/lock');
  const a = lockOwner('up site', 'run-a');
  const b = { ...lockOwner('up site', 'run-b'), controller: 'laptop-b' };
  assert.deepEqual(parseHostLock((await sh(hostLockScript(a, lock).text)).stdout), { acquired: true });
  const held = parseHostLock((await sh(hostLockScript(b, lock).text)).stdout);
  assert.deepEqual(held, { acquired: false, owner: a });
  await sh(hostUnlockScript(b, lock).text);
  assert.ok(existsSync(lock), "b cannot remove a's lock");
  await sh(hostUnlockScript(a, lock).text);
  assert.equal(existsSync(lock), false);
  assert.deepEqual(parseHostLock((await sh(hostLockScript(b, lock).text)).stdout), { acquired: true });
});

test('rollback host locks (lockingConnect): held from connect to close; a second holder is refused naming the first; a stale one of ours is taken over', async () => {
  const lock = join(mkdtempSync(join(tmpdir(), 'provision-hostlock-')), 'var/lib/provision/lock');
  const a = lockOwner('rollback run-1');
  const connectA = lockingConnect(async () => localConnection, a, lock);
  const connA = await connectA('rs1');
  assert.deepEqual(JSON.parse(readFileSync(join(lock, 'owner.json'), 'utf8')), a);
  // Another operator's up (its engine takes the same lock) or rollback on the host is refused.
  const b = { ...lockOwner('up site'), controller: 'laptop-b' };
  await assert.rejects(lockingConnect(async () => localConnection, b, lock)('rs1'), (e: Error) => {
    assert.ok(e instanceof LockError);
    assert.match(e.message, new RegExp(`local:${lock} is locked by .+@${hostname()} \\(pid ${process.pid}, rollback run-1\\) since `));
    return true;
  });
  assert.equal(parseHostLock((await sh(hostLockScript(b, lock).text)).stdout).acquired, false);
  await connA.close();
  assert.equal(existsSync(lock), false, 'closing the connection releases the lock');
  // A lock left by a killed run of this controller is taken over.
  await sh(hostLockScript({ ...lockOwner('up site'), pid: deadPid() }, lock).text);
  const connC = await lockingConnect(async () => localConnection, a, lock)('rs1');
  assert.equal(JSON.parse(readFileSync(join(lock, 'owner.json'), 'utf8')).pid, process.pid);
  await connC.close();
  assert.equal(existsSync(lock), false);
});

test('a run holds each host lock from its first round trip to its end: a live holder refuses the host, a dead one of this controller is taken over', async () => {
  const { runPlaybook } = await import('../../src/core/run.js');
  const { file } = await import('../../src/modules/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'provision-runlock-'));
  const lock = join(dir, 'var/lib/provision/lock');
  const target = join(dir, 'motd');
  const host = { name: 'local', vars: {}, ssh: { host: '127.0.0.1', port: 22, user: 'root' } } as unknown as import('../../src/inventory/types.js').HostEntry;
  const inventory = { file: join(dir, 'inv.yaml'), hosts: new Map([['local', host]]), groups: new Map([['all', ['local']]]) };
  const playbook = { name: 'motd', plays: [{ name: 'motd', hosts: 'all', tasks: () => [file({ name: 'motd', path: target, content: 'hi\n' })] }] };
  const run = (owner: ReturnType<typeof lockOwner>) =>
    runPlaybook({
      inventory,
      playbook,
      playbookName: 'motd',
      hosts: [host],
      mode: 'apply',
      forks: 1,
      projectDir: dir,
      stateDir: join(dir, 'state'),
      connect: async () => localConnection,
      lock: owner,
      hostLockDir: lock,
    });

  // A live holder (another controller): refused in the first round trip, nothing changed.
  const other = { ...lockOwner('up site'), controller: 'laptop-b' };
  await sh(hostLockScript(other, lock).text);
  const refused = (await run(lockOwner('up site'))).report.hosts[0]!;
  assert.match(refused.error ?? '', /var\/lib\/provision\/lock is locked by .+@laptop-b \(pid \d+, up site\) since/);
  assert.equal(refused.errorKind, 'failed', 'a refused lock is a failure of the host, not "unreachable"');
  assert.equal(existsSync(target), false);
  await sh(hostUnlockScript(other, lock).text);

  // A dead run of this controller: taken over; the run converges and releases the lock.
  const dead = { ...lockOwner('up site'), pid: deadPid() };
  await sh(hostLockScript(dead, lock).text);
  const taken = (await run(lockOwner('up site'))).report.hosts[0]!;
  assert.equal(taken.error, undefined);
  assert.equal(taken.recap.changed, 1);
  assert.equal(readFileSync(target, 'utf8'), 'hi\n');
  assert.equal(existsSync(lock), false, 'released at the end');

  // A no-op run takes it too (so a second run meanwhile is refused) and releases it: one more round trip.
  const noop = (await run(lockOwner('up site'))).report.hosts[0]!;
  assert.equal(noop.recap.changed, 0);
  assert.equal(noop.roundTrips, 3, 'connect, lock + facts + probes, release');
  assert.equal(existsSync(lock), false);
});
