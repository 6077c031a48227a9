// The run journal is written ahead: a change is journaled (pending) before it is applied and
// settled after, so a run that dies or fails mid-change still tells rollback what may have
// happened; rollback's drift check accepts either state of a pending change. Real /bin/sh.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runHost } from '../../src/core/engine.js';
import { JournalWriter, listJournals, type JournalChange, type JournalEvidence } from '../../src/core/journal.js';
import { executeRollback, planRollback, readEvidence, type RollbackItem } from '../../src/core/rollback.js';
import { file } from '../../src/modules/index.js';
import { localConnection, tempDir, testFacts } from './helpers/local-host.js';

/** What rollback would refuse as drift on this machine's shell. */
const detectDrift = async (conn: typeof localConnection, items: RollbackItem[]) => (await readEvidence(conn, items)).drift;

describe('write-ahead journal', () => {
  it('a change whose step fails stays pending; applied ones are settled', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const journal = new JournalWriter(dir, { id: 'run1', kind: 'up', inventory: 'inv.yaml', playbook: 'test' });
      const seen: string[] = [];
      const report = await runHost(
        localConnection,
        {
          host: 'local',
          vars: {},
          projectDir: '/',
          build: () => ({
            tasks: [
              file({ name: 'A', path: join(dir, 'a.conf'), content: 'a\n' }),
              // Its directory does not exist: the write fails after the change was journaled.
              file({ name: 'B', path: join(dir, 'missing', 'b.conf'), content: 'b\n' }),
            ],
            handlers: {},
          }),
        },
        {
          mode: 'apply',
          onChange: (ch) => {
            seen.push(`${ch.task}:pending`);
            journal.record('local', ch);
          },
          onApplied: (ch) => {
            seen.push(`${ch.task}:applied`);
            journal.settle('local', ch);
          },
        },
        testFacts(),
      );
      assert.equal(report.recap.failed, 1);
      // Both go in one script, recorded pending before it is sent; A settles on its step's marker.
      assert.deepEqual(seen, ['A:pending', 'B:pending', 'A:applied']);
      const [saved] = listJournals(dir);
      const changes = saved!.hosts.local!.changes;
      assert.deepEqual(
        changes.map((c) => [c.task, c.pending ?? false]),
        [
          ['A', false],
          ['B', true],
        ],
      );
      assert.equal(await readFile(join(dir, 'a.conf'), 'utf8'), 'a\n');

      // Rollback plans both (B may or may not have happened); B's absence is not drift.
      const plan = planRollback(saved!);
      assert.deepEqual(
        plan.items.map((i) => i.change.task),
        ['B', 'A'],
      );
      assert.deepEqual(await detectDrift(localConnection, plan.items), []);
      // A settled change whose file is gone is drift, as before.
      await writeFile(join(dir, 'a.conf'), 'edited\n');
      assert.deepEqual(await detectDrift(localConnection, plan.items), [`${join(dir, 'a.conf')} content changed since run`]);
    } finally {
      await cleanup();
    }
  });

  it('a pending change is not drift in either state; a settled one only in its after-state', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, 'x.conf');
      const sha = (s: string) => import('node:crypto').then((c) => c.createHash('sha256').update(s).digest('hex'));
      const change = async (pending: boolean): Promise<JournalChange> => ({
        task: 'x',
        module: 'file',
        summary: 'update x',
        before: { path, type: 'file', sha256: await sha('old\n') },
        after: { path, type: 'file', sha256: await sha('new\n') },
        ...(pending ? { pending: true as const } : {}),
        at: '',
      });
      const items = async (pending: boolean) => [{ host: 'local', change: await change(pending), undoable: true }];
      await writeFile(path, 'old\n');
      assert.deepEqual(await detectDrift(localConnection, await items(true)), []);
      assert.equal((await detectDrift(localConnection, await items(false))).length, 1);
      await writeFile(path, 'new\n');
      assert.deepEqual(await detectDrift(localConnection, await items(true)), []);
      assert.deepEqual(await detectDrift(localConnection, await items(false)), []);
      await writeFile(path, 'someone else\n');
      assert.equal((await detectDrift(localConnection, await items(true))).length, 1);
    } finally {
      await cleanup();
    }
  });
});

describe('volatile evidence (a service state) and evidence that cannot tell', () => {
  it('volatile: never drift; pending and showing the before-state is never-applied. Equal before and after prove nothing', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, 'state');
      const change = (pending: boolean, e: Partial<JournalEvidence> = {}): RollbackItem => ({
        host: 'local',
        undoable: true,
        change: {
          task: 'svc',
          module: 'service',
          summary: 'start service svc',
          before: {},
          evidence: { what: 'service svc running', check: `cat '${path}'`, before: 'running=0\n', after: 'running=1\n', volatile: true, ...e },
          ...(pending ? { pending: true as const } : {}),
          at: '',
        },
      });
      await writeFile(path, 'running=0\n');
      // Settled, and the service stopped since: not drift (services stop and start by themselves).
      assert.deepEqual(await readEvidence(localConnection, [change(false)]), { drift: [], unapplied: new Set() });
      const pending = change(true);
      assert.deepEqual([...(await readEvidence(localConnection, [pending])).unapplied], [pending.change]);
      await writeFile(path, 'running=1\n');
      assert.deepEqual(await readEvidence(localConnection, [change(true)]), { drift: [], unapplied: new Set() });
      // A change whose evidence reads the same before and after (a file's mode only) is not "never applied".
      const same = change(true, { before: 'running=1\n', volatile: undefined });
      assert.deepEqual(await readEvidence(localConnection, [same]), { drift: [], unapplied: new Set() });
      // Not volatile: another state is drift.
      await writeFile(path, 'other\n');
      assert.deepEqual((await readEvidence(localConnection, [change(false, { volatile: undefined })])).drift, ['service svc running changed since run']);
    } finally {
      await cleanup();
    }
  });
});

describe('drift evidence is declared by the module that made the change', () => {
  it('a file change carries its sha256 check; rollback reads it back without knowing files', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, 'e.conf');
      const journal = new JournalWriter(dir, { id: 'run-ev', kind: 'up', inventory: 'inv.yaml', playbook: 'test' });
      await runHost(
        localConnection,
        {
          host: 'local',
          vars: {},
          projectDir: '/',
          build: () => ({ tasks: [file({ name: 'E', path, content: 'e\n' })], handlers: {} }),
        },
        { mode: 'apply', onChange: (c) => journal.record('local', c), onApplied: (c) => journal.settle('local', c) },
      );
      journal.finish('ok');
      const change = listJournals(dir)[0]!.hosts.local!.changes[0]!;
      assert.equal(change.evidence?.what, `${path} content`);
      const items = planRollback(listJournals(dir)[0]!).items;
      assert.deepEqual(await detectDrift(localConnection, items), []);
      await writeFile(path, 'edited by hand\n');
      assert.deepEqual(await detectDrift(localConnection, items), [`${path} content changed since run`]);
      // A journal from before evidence existed (same change, no evidence field) is still checked.
      const legacy: JournalChange = { ...change, evidence: undefined };
      assert.deepEqual(await detectDrift(localConnection, [{ host: 'local', change: legacy, undoable: true }]), [`${path} content changed since run`]);
    } finally {
      await cleanup();
    }
  });
});

describe('rollback of a run that stopped mid-script', () => {
  it('a pending change whose host shows the state before it was never applied: skipped, its undo not run; an applied one is undone', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const sha = (t: string) => import('node:crypto').then((c) => `${c.createHash('sha256').update(t).digest('hex')}`);
      const a = join(dir, 'a.conf');
      const b = join(dir, 'b.conf');
      await writeFile(a, 'new\n'); // applied: old -> new
      await writeFile(b, 'old\n'); // pending, never applied: still old
      const journal = new JournalWriter(dir, { id: 'run-stopped', kind: 'up', inventory: 'inv.yaml', playbook: 'test' });
      const update = async (task: string, path: string, undo: string, pending: boolean): Promise<JournalChange> => ({
        task,
        module: 'file',
        summary: `update ${task.toLowerCase()}`,
        before: { path, type: 'file', sha256: await sha('old\n') },
        after: { path, type: 'file', sha256: await sha('new\n') },
        undo: [{ kind: 'exec', script: undo }],
        ...(pending ? { pending: true as const } : {}),
        at: '',
      });
      journal.record('local', await update('A', a, `printf 'old\\n' > '${a}'`, false));
      // Its undo fails on a host where it never happened (like `ipvsadm -D` of a service never added).
      journal.record('local', await update('B', b, `grep -q new '${b}' && printf 'old\\n' > '${b}'`, true));
      journal.finish('failed');
      const plan = planRollback(listJournals(dir).find((j) => j.id === 'run-stopped')!);
      const log: string[] = [];
      const host = {
        name: 'local',
        vars: {},
        ssh: { host: '127.0.0.1', port: 22, user: 'root' },
      } as unknown as import('../../src/inventory/types.js').HostEntry;
      const r = await executeRollback({
        plan,
        stateDir: dir,
        hosts: [host],
        force: false,
        forks: 1,
        connect: async () => localConnection,
        log: (l) => log.push(l),
      });
      assert.equal(r.hosts.local!.error, undefined, log.join('\n'));
      assert.deepEqual([r.hosts.local!.undone, r.hosts.local!.skipped], [1, 1]);
      assert.ok(log.includes('local | skipped | update b (pending and never applied: the host shows the state before it)'), log.join('\n'));
      assert.equal(await readFile(a, 'utf8'), 'old\n');
      assert.equal(await readFile(b, 'utf8'), 'old\n');
    } finally {
      await cleanup();
    }
  });
});
