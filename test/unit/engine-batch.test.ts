// Changes of one host that do not depend on each other go in one script; the journal stays exact:
// a change settles only on its steps' success markers, a failing step stops the host there (later
// changes of the script never ran and leave the journal), a broken connection leaves everything of
// the script pending. Round trips are counted. Real /bin/sh on this machine (no SSH).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gatherFacts, predict, runHost, type HostRunOptions } from '../../src/core/engine.js';
import { JournalWriter, listJournals } from '../../src/core/journal.js';
import { lockGate } from '../../src/core/run.js';
import { hostLockScript, hostUnlockScript, type LockOwner } from '../../src/core/run-lock.js';
import { TransportError } from '../../src/ssh/errors.js';
import type { HostFacts, Task } from '../../src/core/types.js';
import { command, directory, file, lineInFile } from '../../src/modules/index.js';
import { localConnection, localConnectionWith, tempDir, testFacts } from './helpers/local-host.js';
import { sh } from '../../src/core/shell.js';
import { execResult } from '../../src/core/host-output.js';

const work = (tasks: Task[], handlers: Record<string, Task> = {}) => ({ host: 'local', vars: {}, projectDir: '/', build: () => ({ tasks, handlers }) });

function journaled(dir: string) {
  const journal = new JournalWriter(dir, { id: 'run1', kind: 'up', inventory: 'inv.yaml', playbook: 'test' });
  const opts: Partial<HostRunOptions> = journal.hooks('local');
  const changes = () => listJournals(dir)[0]!.hosts.local!.changes.map((c) => `${c.task}:${c.pending ? 'pending' : 'applied'}`);
  return { journal, opts, changes };
}

const owner = (pid = process.pid, since = new Date().toISOString()): LockOwner => ({ user: 'u', controller: 'c', pid, operation: 'up', since });

describe('one script per batch of independent changes', () => {
  it('a first converge of independent tasks is one probe and one apply round trip; a no-op run with cached facts is one', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const facts: HostFacts = await gatherFacts(localConnection);
      const d = join(dir, 'web');
      const tasks = [
        directory({ name: 'D', path: d, mode: '0755' }),
        file({ name: 'F', path: join(d, 'index.html'), content: 'hello\n', mode: '0644' }),
        file({ name: 'G', path: join(dir, 'motd'), content: 'motd\n' }),
        lineInFile({ name: 'L', path: join(dir, 'issue'), line: 'managed', create: true }),
      ];
      const lock = join(dir, 'lock');
      const me = owner();
      const gate = lockGate('local', me, lock);
      const first = await runHost(localConnection, work(tasks), { mode: 'apply', cachedFacts: facts, gate });
      assert.equal(first.error, undefined);
      assert.equal(first.recap.changed, 4);
      // the lock + facts + every probe, then one script: F, planned on "absent" under a directory D
      // creates, goes behind a guard (its probe again) because rollback can tell it never ran.
      assert.equal(first.roundTrips, 2);
      assert.equal(gate.held, true);
      assert.equal(await readFile(join(d, 'index.html'), 'utf8'), 'hello\n');
      await localConnection.exec(hostUnlockScript(me, lock));

      const second = owner();
      const again = lockGate('local', second, lock);
      const noop = await runHost(localConnection, work(tasks), { mode: 'apply', cachedFacts: facts, gate: again });
      assert.equal(noop.error, undefined);
      assert.deepEqual(
        noop.tasks.map((t) => `${t.task}:${t.status}`),
        ['D:ok', 'F:ok', 'G:ok', 'L:ok'],
      );
      assert.equal(noop.roundTrips, 1);
      // Taken in that round trip all the same (a second run meanwhile is refused); the run releases it.
      assert.equal(again.held, true);
      assert.ok((await stat(lock)).isDirectory());
      await localConnection.exec(hostUnlockScript(second, lock));
      await assert.rejects(stat(lock), /ENOENT/);

      // Facts that differ from the cache: tasks rebuilt from the host's own facts and probed again.
      const stale = await runHost(localConnection, work(tasks), { mode: 'check', cachedFacts: testFacts({ hostname: 'elsewhere' }) });
      assert.equal(stale.recap.ok, 4);
      assert.equal(stale.roundTrips, 2);
    } finally {
      await cleanup();
    }
  });

  it('with its engine hooks the journal is written once before a script is sent (every change pending on disk) and once after it, not per change', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const journal = new JournalWriter(dir, { id: 'run1', kind: 'up', inventory: 'inv.yaml', playbook: 'test' });
      let writes = 0;
      const flush = journal.flush.bind(journal);
      journal.flush = () => {
        writes++;
        flush();
      };
      const onDisk = () => listJournals(dir)[0]?.hosts.local?.changes.map((c) => `${c.task}:${c.pending ? 'pending' : 'applied'}`) ?? [];
      const seenAtSend: string[][] = [];
      const conn = {
        ...localConnection,
        exec: async (script: Parameters<typeof localConnection.exec>[0], o?: Parameters<typeof localConnection.exec>[1]) => {
          if (o?.stdin !== undefined || /mkdir/.test(script.text)) seenAtSend.push(onDisk());
          return localConnection.exec(script, o);
        },
      };
      const tasks = [
        file({ name: 'A', path: join(dir, 'a'), content: 'a\n' }),
        file({ name: 'B', path: join(dir, 'b'), content: 'b\n' }),
        lineInFile({ name: 'C', path: join(dir, 'c'), line: 'c', create: true }),
      ];
      const r = await runHost(conn, work(tasks), {
        mode: 'apply',
        cachedFacts: await gatherFacts(localConnection),
        ...journal.hooks('local'),
      });
      assert.equal(r.recap.changed, 3);
      assert.deepEqual(seenAtSend, [['A:pending', 'B:pending', 'C:pending']]);
      assert.deepEqual(onDisk(), ['A:applied', 'B:applied', 'C:applied']);
      assert.equal(writes, 2);
    } finally {
      await cleanup();
    }
  });

  it('a change planned on a stale probe joins the script only when rollback could tell it never ran; one with an undo and no evidence waits', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const d = join(dir, 'web');
      const marker = join(d, 'built');
      const { journal, opts, changes } = journaled(dir);
      const tasks = [
        directory({ name: 'D', path: d, mode: '0755' }),
        // Reads everything (no footprint): stale after D. Its undo cannot be checked on the host.
        command({ name: 'C', cmd: sh`touch ${marker}`, creates: marker, undo: sh`rm ${marker}` }),
      ];
      const r = await runHost(localConnection, work(tasks), { mode: 'apply', ...opts });
      journal.finish('ok');
      assert.equal(r.error, undefined);
      assert.deepEqual(
        r.tasks.map((t) => `${t.task}:${t.status}`),
        ['D:changed', 'C:changed'],
      );
      // facts, every probe, the script of D, then C's own script.
      assert.equal(r.roundTrips, 4);
      assert.deepEqual(changes(), ['D:applied', 'C:applied']);
    } finally {
      await cleanup();
    }
  });

  it('the re-probes after a script share their reads: the files of later tasks are read by one survey, and they plan on it', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const d = join(dir, 'web');
      const marker = join(d, 'built');
      const sent: string[] = [];
      const conn = {
        ...localConnection,
        exec: (script: Parameters<typeof localConnection.exec>[0], o?: Parameters<typeof localConnection.exec>[1]) => (
          sent.push(script.text), localConnection.exec(script, o)
        ),
      };
      const tasks = [
        directory({ name: 'D', path: d, mode: '0755' }),
        // Waits for the next script (stale after D, an undo the host cannot check): what follows is re-probed.
        command({ name: 'C', cmd: sh`touch ${marker}`, creates: marker, undo: sh`rm ${marker}` }),
        file({ name: 'F', path: join(d, 'index.html'), content: 'hello\n' }),
        file({ name: 'G', path: join(d, 'motd'), content: 'motd\n' }),
        // Bytes that are no UTF-8, and the survey's own marker line: read raw, cut from the bytes.
        file({ name: 'B', path: join(d, 'raw.bin'), content: Buffer.from([0x62, 0x6c, 0x6f, 0x62, 0x3d, 0x0a, 0xff, 0xfe, 0x00, 0xc3]) }),
      ];
      const r = await runHost(conn, work(tasks), { mode: 'apply' });
      assert.equal(r.error, undefined);
      assert.deepEqual(
        r.tasks.map((t) => `${t.task}:${t.status}`),
        ['D:changed', 'C:changed', 'F:changed', 'G:changed', 'B:changed'],
      );
      const first = sent.find((t) => t.includes(' tail begin'));
      assert.ok(first, 'an apply script re-probes its tail as one batch');
      assert.match(first, /stat -L -c '%a %u %g %s %U %G' -- "\$@"/);
      assert.equal(await readFile(join(d, 'index.html'), 'utf8'), 'hello\n');
      assert.equal(await readFile(join(d, 'motd'), 'utf8'), 'motd\n');
      const again = await runHost(localConnection, work(tasks), { mode: 'check' });
      assert.equal(again.recap.changed, 0);
      // Every file read back as written, the binary one too (no task failed on what it read).
      assert.equal(again.error, undefined);
      assert.deepEqual(
        again.tasks.map((t) => t.status),
        ['ok', 'ok', 'ok', 'ok', 'ok'],
      );
    } finally {
      await cleanup();
    }
  });

  it('a failing step stops the host there: earlier changes settled, the failing one pending, later ones never ran', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const j = journaled(dir);
      const report = await runHost(
        localConnection,
        work([
          file({ name: 'A', path: join(dir, 'a.conf'), content: 'a\n' }),
          // Its directory does not exist: the write fails in the middle of the script.
          file({ name: 'B', path: join(dir, 'missing', 'b.conf'), content: 'b\n' }),
          file({ name: 'C', path: join(dir, 'c.conf'), content: 'c\n' }),
        ]),
        { mode: 'apply', ...j.opts },
        testFacts(),
      );
      assert.deepEqual(
        report.tasks.map((t) => `${t.task}:${t.status}`),
        ['A:changed', 'B:failed', 'C:skipped'],
      );
      assert.match(report.tasks[1]!.error ?? '', /directory .*missing does not exist/);
      assert.match(report.tasks[2]!.error ?? '', /not applied: B failed before it/);
      assert.deepEqual(j.changes(), ['A:applied', 'B:pending']);
      assert.equal(await readFile(join(dir, 'a.conf'), 'utf8'), 'a\n');
      await assert.rejects(stat(join(dir, 'c.conf')), /ENOENT/, 'C ran after a failed step');
      assert.equal(report.roundTrips, 2);
    } finally {
      await cleanup();
    }
  });

  it('a task that cannot be planned stops the host there: the changes before it are made, none after; -v shows every step', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const j = journaled(dir);
      const unplannable: Task = {
        name: 'B',
        module: 'test',
        probe: () => ({ script: sh`echo x`, parse: (o) => o.stdout }),
        footprint: () => ({ reads: ['test:b'], writes: ['test:b'] }),
        plan: () => {
          throw new Error('no plan for B');
        },
      };
      const shown: string[] = [];
      const report = await runHost(
        localConnection,
        work([file({ name: 'A', path: join(dir, 'a.conf'), content: 'a\n' }), unplannable, file({ name: 'C', path: join(dir, 'c.conf'), content: 'c\n' })]),
        { mode: 'apply', ...j.opts, onEvent: (e) => (e.type === 'command' ? shown.push(e.display) : undefined) },
        testFacts(),
      );
      assert.deepEqual(
        report.tasks.map((t) => `${t.task}:${t.status}`),
        ['A:changed', 'B:failed'],
      );
      assert.deepEqual(j.changes(), ['A:applied']);
      assert.equal(await readFile(join(dir, 'a.conf'), 'utf8'), 'a\n');
      await assert.rejects(stat(join(dir, 'c.conf')), /ENOENT/, 'C ran after B failed');
      // The script's -v line names A's own command, not only "apply 1 change(s)".
      const apply = shown.find((d) => d.startsWith('apply 1 change(s) in one script'));
      assert.ok(apply?.includes(join(dir, 'a.conf')), apply);
    } finally {
      await cleanup();
    }
  });

  it('a connection that breaks during the script leaves every change of it pending', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const j = journaled(dir);
      // Exec 1 is the probes, exec 2 the script.
      const breaking = localConnectionWith((r, n) => {
        if (n === 2) throw new TransportError('channel', 'local', 'local:22', 'connection lost');
        return r;
      });
      const report = await runHost(
        breaking,
        work([file({ name: 'A', path: join(dir, 'a.conf'), content: 'a\n' }), file({ name: 'B', path: join(dir, 'b.conf'), content: 'b\n' })]),
        { mode: 'apply', ...j.opts },
        testFacts(),
      );
      assert.equal(report.recap.failed, 1);
      assert.match(report.tasks[0]!.error ?? '', /connection lost/);
      // The script did run (the files are there) but no marker came back: both stay pending.
      assert.deepEqual(j.changes(), ['A:pending', 'B:pending']);
    } finally {
      await cleanup();
    }
  });

  it('output cut short: changes whose markers arrived are settled, the rest stay pending', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const j = journaled(dir);
      const cut = localConnectionWith((r, n) => {
        if (n !== 2) return r;
        // Keep the script's output up to the end marker of the first step only.
        const m = /\n(__provision_[0-9a-f]+) s 0 end 0\n/.exec(r.stdout)!;
        return execResult(r.code, r.stdout.slice(0, m.index + m[0].length), r.stderr);
      });
      const report = await runHost(
        cut,
        work([file({ name: 'A', path: join(dir, 'a.conf'), content: 'a\n' }), file({ name: 'B', path: join(dir, 'b.conf'), content: 'b\n' })]),
        { mode: 'apply', ...j.opts },
        testFacts(),
      );
      assert.match(report.error ?? '', /stopped before reporting every step/);
      assert.deepEqual(j.changes(), ['A:applied', 'B:pending']);
    } finally {
      await cleanup();
    }
  });

  it('the run lock: taken in the first round trip; a holder refuses the host there, before any change, naming it', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const lock = join(dir, 'lock');
      const path = join(dir, 'x.conf');
      const tasks = [file({ name: 'X', path, content: 'mine\n' })];
      const other = owner(process.pid, '2000-01-01T00:00:00.000Z');
      await localConnection.exec(hostLockScript(other, lock));
      const gate = lockGate('local', owner(), lock);
      const refused = await runHost(localConnection, work(tasks), { mode: 'apply', gate }, testFacts());
      assert.match(refused.error ?? '', /is locked by u@c \(pid \d+, up\) since 2000-01-01/);
      assert.equal(refused.roundTrips, 1);
      assert.equal(gate.held, false);
      assert.equal(gate.stale, undefined, 'a live holder is not stale');
      await assert.rejects(stat(path), /ENOENT/);
      assert.equal(JSON.parse(await readFile(join(lock, 'owner.json'), 'utf8')).since, other.since, "the holder's lock is untouched");
      await localConnection.exec(hostUnlockScript(other, lock));

      const mine = owner();
      const taken = lockGate('local', mine, lock);
      const r = await runHost(localConnection, work(tasks), { mode: 'apply', gate: taken }, testFacts());
      assert.equal(r.error, undefined);
      assert.equal(taken.held, true);
      assert.equal(await readFile(path, 'utf8'), 'mine\n');
      assert.deepEqual(JSON.parse(await readFile(join(lock, 'owner.json'), 'utf8')), mine);
    } finally {
      await cleanup();
    }
  });
});

describe('predict: what a stale probe will read after the earlier changes of its script', () => {
  it('substitutes whole lines only, every occurrence, effects in order; anything else is left as it was', () => {
    const effects = [
      { before: 'registered=0\nenabled=0\n', after: 'registered=1\nenabled=1\n' },
      { before: 'running=0\n', after: 'running=1\n' },
    ];
    assert.equal(predict('registered=0\nenabled=0\nrunning=0\n', effects), 'registered=1\nenabled=1\nrunning=1\n');
    // Not at a line start: not the same line.
    assert.equal(predict('xrunning=0\nnotrunning=0\n', effects), 'xrunning=0\nnotrunning=0\n');
    // A block is replaced only where all of it stands.
    assert.equal(predict('registered=0\nrunning=0\n', effects), 'registered=0\nrunning=1\n');
    assert.equal(predict('running=0\nrunning=0\n', effects), 'running=1\nrunning=1\n');
    // Effects without a final newline are not whole lines: ignored.
    assert.equal(predict('a\n', [{ before: 'a', after: 'b' }]), 'a\n');
  });
});
