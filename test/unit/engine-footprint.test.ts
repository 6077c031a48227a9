// The engine re-probes after a change only what the change may have altered (task footprints),
// and the result is still what a full re-probe would give; changes that do not depend on each
// other go to the host in one script, a task planned on a state an earlier change of the same
// script may alter is guarded there (probe again, stop if it differs). runHost runs for real against the
// local /bin/sh through a Connection over it (no SSH: that layer is tested in test/ssh).
import { raw, sh } from '../../src/core/shell.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runHost, type HostEvent } from '../../src/core/engine.js';
import { fileKey, invalidates, own } from '../../src/core/footprint.js';
import type { Task } from '../../src/core/types.js';
import { command, directory, file, lineInFile, service, sysctl } from '../../src/modules/index.js';
import { localConnection, tempDir, testContext, testFacts } from './helpers/local-host.js';

async function run(tasks: Task[]) {
  const probes: number[] = [];
  const trips: string[] = [];
  const onEvent = (e: HostEvent) => {
    if (e.type !== 'command') return;
    trips.push(e.display.split('\n')[0]!.replace(/:$/, ''));
    const m = /^probe (\d+) task\(s\)/.exec(e.display);
    if (m) probes.push(Number(m[1]));
  };
  const report = await runHost(
    localConnection,
    {
      host: 'local',
      vars: {},
      projectDir: '/',
      build: () => ({ tasks, handlers: {} }),
    },
    { mode: 'apply', onEvent },
    testFacts(),
  );
  assert.equal(report.error, undefined);
  assert.equal(report.recap.failed, 0, JSON.stringify(report.tasks));
  return { report, probes, trips };
}

describe('footprints', () => {
  const ctx = testContext();
  const t = (fp?: ReturnType<typeof own>): Task => ({
    name: 'x',
    module: 'x',
    probe: () => ({ script: raw('true'), parse: () => null }),
    plan: () => [],
    ...(fp ? { footprint: () => fp } : {}),
  });

  it('a file meets itself, its ancestors and descendants, nothing else', () => {
    assert.ok(invalidates(t(own(fileKey('/etc/mon'))), t(own(fileKey('/etc/mon/mon.cf'))), ctx));
    assert.ok(invalidates(t(own(fileKey('/etc/mon/mon.cf'))), t(own(fileKey('/etc/mon/'))), ctx));
    assert.ok(!invalidates(t(own(fileKey('/etc/mon'))), t(own(fileKey('/etc/monitor.cf'))), ctx));
    assert.ok(!invalidates(t(own(fileKey('/etc/a'))), t(own('sysctl:net.ipv4.ip_forward')), ctx));
    assert.ok(invalidates(t(own('ipvs')), t(own('ipvs')), ctx));
  });

  it('a task without a footprint is "*" both ways', () => {
    assert.ok(invalidates(t(), t(own('ipvs')), ctx));
    assert.ok(invalidates(t(own('ipvs')), t(), ctx));
    // A package install may write anything; a file write does not change what a package probe reads.
    const pkgLike = t({ reads: ['pkg:mon'], writes: ['*'] });
    assert.ok(invalidates(pkgLike, t(own(fileKey('/etc/mon/mon.cf'))), ctx));
    assert.ok(!invalidates(t(own(fileKey('/etc/mon/mon.cf'))), pkgLike, ctx));
  });

  it('modules declare theirs: sysctl covers its persist file, which a lineInFile of that file meets', () => {
    const s = sysctl({ name: 's', key: 'net.ipv4.ip_forward', value: '1', persistFile: '/etc/sysctl.conf' });
    assert.ok(invalidates(lineInFile({ name: 'l', path: '/etc/sysctl.conf', line: 'x' }), s, ctx));
    assert.ok(!invalidates(file({ name: 'f', path: '/etc/motd', content: 'x' }), s, ctx));
    assert.ok(invalidates(command({ name: 'c', cmd: raw('true') }), s, ctx));
  });

  it('a service probe is stale after its init script, a unit file or any service change; not after a config file', () => {
    const svc = service({ name: 'mon', enabled: true, running: true });
    assert.ok(invalidates(file({ name: 'i', path: '/etc/init.d/mon', content: 'x' }), svc, ctx));
    assert.ok(invalidates(file({ name: 'u', path: '/etc/systemd/system/mon.service.d/x.conf', content: 'x' }), svc, ctx));
    assert.ok(invalidates(service({ name: 'other', running: true }), svc, ctx));
    assert.ok(!invalidates(file({ name: 'c', path: '/etc/mon/mon.cf', content: 'x' }), svc, ctx));
    assert.ok(!invalidates(file({ name: 'c', path: '/etc/init.d/monitor', content: 'x' }), svc, ctx));
  });
});

describe('engine: re-probe after a change', () => {
  it('re-probes only the tasks a change may have altered, and they see the change', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const a = join(dir, 'a.conf');
      const tasks = [
        file({ name: 'A', path: a, content: 'first\n' }),
        file({ name: 'B', path: join(dir, 'b.conf'), content: 'other\n' }),
        // Same path as A: its first probe (a.conf absent) is stale once A wrote the file.
        lineInFile({ name: 'C', path: a, line: 'second' }),
      ];
      const first = await run(tasks);
      assert.equal(first.report.recap.changed, 3);
      // One probe batch of all three, then one script: A and B, and C's re-probe after them (C
      // cannot be planned on "absent": no line can go in a file that does not exist); then C alone.
      assert.deepEqual(first.probes, [3]);
      assert.deepEqual(first.trips, ['probe 3 task(s) in one batch', 'apply 2 change(s) in one script, re-probe 1 task(s)', 'apply 1 change(s) in one script']);
      assert.equal(first.report.roundTrips, 3);
      // C planned from its re-probe (A's content), not from the stale "absent".
      assert.equal(await readFile(a, 'utf8'), 'first\nsecond\n');
    } finally {
      await cleanup();
    }
  });

  it('a directory change makes the files under it stale; a command makes everything stale', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const d = join(dir, 'conf.d');
      const tasks = [
        directory({ name: 'D', path: d, mode: '0755' }),
        file({ name: 'F', path: join(d, 'x.conf'), content: 'x\n' }),
        file({ name: 'G', path: join(dir, 'g.conf'), content: 'g\n' }),
        command({ name: 'touch', cmd: sh`echo h > ${join(dir, 'h.conf')}`, creates: join(dir, 'h.conf') }),
        file({ name: 'H', path: join(dir, 'h.conf'), content: 'h\n' }),
        file({ name: 'I', path: join(dir, 'i.conf'), content: 'i\n' }),
      ];
      const r = await run(tasks);
      // [all 6] -> one script: D, F (guarded: still absent under the new directory; its change
      // follows the guard: rollback can tell it never ran), G, the command (guarded: its `creates`
      // still absent), H (guarded: planned on "absent"), I. H's guard finds the file the command
      // wrote: the script stops there (H's and I's changes never run and are not reported), H and I
      // are probed again in it -> H is ok, I changes in a second script.
      assert.deepEqual(r.probes, [6]);
      assert.deepEqual(r.trips, ['probe 6 task(s) in one batch', 'apply 6 change(s) in one script', 'apply 1 change(s) in one script']);
      assert.equal(r.report.roundTrips, 3);
      assert.deepEqual(
        r.report.tasks.map((t) => `${t.task}:${t.status}`),
        ['D:changed', 'F:changed', 'G:changed', 'touch:changed', 'H:ok', 'I:changed'],
      );
      const second = await run(tasks);
      assert.deepEqual(second.probes, [6]);
      assert.equal(second.report.recap.changed, 0);
    } finally {
      await cleanup();
    }
  });
});
