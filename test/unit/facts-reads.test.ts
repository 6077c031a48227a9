// Facts by need: a run notes which facts its tasks read; the next gathers only the ones the shell
// reads itself when none of the costly ones (ip, awk) was read, and checks a costly one a plan reads
// after all before anything planned from it is reported or sent. Real /bin/sh on this machine.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gatherFacts, runHost, type HostRunOptions } from '../../src/core/engine.js';
import { BASE_FACTS_SCRIPT, COSTLY_FACTS, FACTS_SCRIPT, parseFacts, sameFacts } from '../../src/core/facts.js';
import { FactsReads, type FactKey } from '../../src/core/facts-reads.js';
import { FactsCache } from '../../src/core/facts-cache.js';
import { sh } from '../../src/core/shell.js';
import type { Connection, HostFacts, Task } from '../../src/core/types.js';
import { file } from '../../src/modules/index.js';
import { localConnection, sh as localSh, tempDir, testFacts } from './helpers/local-host.js';

describe('which facts a run reads', () => {
  it('notes each key read through the view, by property, `in`, or a listing of the keys (a template #each, JSON)', () => {
    const r = new FactsReads();
    const v = r.view(testFacts());
    assert.equal(v.kernel.release, '6.1.0');
    assert.ok('init' in v);
    assert.ok(Object.hasOwn(v, 'arch'));
    void v.os;
    assert.deepEqual(r.keys(), ['arch', 'init', 'kernel', 'os']);
    JSON.stringify(v);
    assert.deepEqual(r.keys(), Object.keys(testFacts()).sort());
  });

  it('a key read while its value is the cache`s is unchecked until checked()', () => {
    const r = new FactsReads();
    const v = r.view(testFacts());
    void v.interfaces; // before: verified with the others
    r.fromCache(COSTLY_FACTS);
    void v.os;
    assert.deepEqual([...r.unchecked], []);
    void v.defaultInterface;
    void v.hostname;
    assert.deepEqual([...r.unchecked].sort(), ['defaultInterface', 'hostname']);
    r.checked();
    void v.user;
    assert.deepEqual([...r.unchecked], []);
  });

  it('sameFacts compares every key, or every key but the costly ones', () => {
    const a = testFacts();
    assert.ok(sameFacts(a, testFacts()));
    assert.ok(!sameFacts(a, testFacts({ hostname: 'other' })));
    assert.ok(sameFacts(a, testFacts({ hostname: 'other', interfaces: [{ name: 'eth9', ipv4: [], up: true }] }), false));
    assert.ok(!sameFacts(a, testFacts({ kernel: { release: '6.2.0', major: 6, minor: 2 } }), false));
  });
});

describe('the facts script in two parts', () => {
  it('the first part prints every fact but the costly ones, as the whole script does, and runs no ip or awk', async () => {
    const all = parseFacts((await localSh(FACTS_SCRIPT.text)).stdout);
    const base = parseFacts((await localSh(BASE_FACTS_SCRIPT.text)).stdout);
    assert.ok(all.hostname && all.interfaces.length > 0, 'the whole script reads the costly facts here');
    assert.ok(sameFacts(base, all, false));
    assert.equal(base.hostname, '');
    assert.deepEqual(base.interfaces, []);
    assert.equal(base.defaultInterface, null);
    assert.equal(base.user, '');
    assert.ok(FACTS_SCRIPT.text.startsWith(BASE_FACTS_SCRIPT.text));
    for (const program of [/\bip -/, /\bawk\b/, /dpkg-query -W/]) {
      assert.doesNotMatch(BASE_FACTS_SCRIPT.text, program);
      assert.match(FACTS_SCRIPT.text, program);
    }
  });
});

describe('the facts cache keeps the keys read', () => {
  it('reads an entry back, reads a file of the facts alone (written before the keys were kept) as facts without keys, and skips garbage', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const cache = new FactsCache(dir);
      cache.put('h1', { facts: testFacts(), reads: ['init', 'os'] });
      assert.deepEqual(cache.get('h1'), { facts: testFacts(), reads: ['init', 'os'] });
      await mkdir(join(dir, 'facts'), { recursive: true });
      await writeFile(join(dir, 'facts', 'h2.json'), JSON.stringify(testFacts()));
      assert.deepEqual(cache.get('h2'), { facts: testFacts() });
      await writeFile(join(dir, 'facts', 'h3.json'), JSON.stringify({ facts: testFacts(), reads: 'os' }));
      assert.deepEqual(cache.get('h3'), { facts: testFacts() });
      await writeFile(join(dir, 'facts', 'h4.json'), '{"facts":');
      assert.equal(cache.get('h4'), undefined);
      assert.equal(cache.get('nobody'), undefined);
    } finally {
      await cleanup();
    }
  });
});

/** localConnection that keeps every script it runs. */
function recording(): { conn: Connection; scripts: string[] } {
  const scripts: string[] = [];
  return { scripts, conn: { ...localConnection, exec: (s, o) => (scripts.push(s.text), localConnection.exec(s, o)) } };
}

const ranIp = (text: string) => text.includes('ip -o -4 addr show');

/** A task whose plan reads facts.interfaces only when its file is missing: a path a no-op run does not take. */
function planReadsInterfaces(path: string): Task<boolean> {
  return {
    name: 'P',
    module: 'test',
    probe: () => ({ script: sh`if [ -e ${path} ]; then echo yes; fi`, parse: (o) => o.stdout.trim() === 'yes' }),
    plan: (there, ctx) => {
      if (there) return [];
      const names = ctx.facts.interfaces.map((i) => i.name).join(' ');
      return [{ summary: `write ${path} (${names})`, apply: [{ kind: 'exec', script: sh`printf '%s\n' ${names} > ${path}` }], before: null }];
    },
  };
}

describe('a run gathers the costly facts only when they may be read', () => {
  const work = (tasks: Task[]) => ({ host: 'local', vars: {}, projectDir: '/', build: () => ({ tasks, handlers: {} }) });

  it('after a run that read none of them: only the first part, in the same one round trip; the keys read are handed on', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const facts = await gatherFacts(localConnection);
      const tasks = (ctx: { facts: HostFacts }) => [file({ name: 'F', path: join(dir, 'f'), content: `${ctx.facts.kernel.release}\n` })];
      const w = { host: 'local', vars: {}, projectDir: '/', build: (ctx: { facts: HostFacts }) => ({ tasks: tasks(ctx), handlers: {} }) };
      let handed: { facts: HostFacts; reads: FactKey[] } | undefined;
      const opts = (reads?: FactKey[]): HostRunOptions => ({
        mode: 'apply',
        cachedFacts: facts,
        ...(reads ? { cachedReads: reads } : {}),
        onFacts: (f, r) => (handed = { facts: f, reads: r }),
      });
      // No keys known (a cache from before): every fact.
      const a = recording();
      const first = await runHost(a.conn, w, opts());
      assert.equal(first.recap.changed, 1);
      assert.ok(ranIp(a.scripts[0]!));
      assert.deepEqual(handed?.reads, ['kernel']);
      assert.deepEqual(handed?.facts, facts);

      const b = recording();
      const noop = await runHost(b.conn, w, opts(handed!.reads));
      assert.deepEqual(
        noop.tasks.map((t) => `${t.task}:${t.status}`),
        ['F:ok'],
      );
      assert.equal(noop.roundTrips, 1);
      assert.ok(!ranIp(b.scripts[0]!), 'the costly part was sent');
      assert.ok(b.scripts[0]!.includes(BASE_FACTS_SCRIPT.text));
      // What the cache keeps: the cached facts whole (the costly ones were not read), the keys read.
      assert.deepEqual(handed, { facts, reads: ['kernel'] });

      // The last run read a costly one: all of them.
      const c = recording();
      await runHost(c.conn, w, opts(['interfaces', 'kernel']));
      assert.ok(ranIp(c.scripts[0]!));
    } finally {
      await cleanup();
    }
  });

  it('a build that reads a costly fact now (the inventory changed since) gets every fact in the first round trip', async () => {
    const facts = await gatherFacts(localConnection);
    const t = recording();
    const w = {
      ...work([]),
      build: (ctx: { facts: HostFacts }) => ({ tasks: ctx.facts.defaultInterface === 'none' ? [planReadsInterfaces('/nonexistent')] : [], handlers: {} }),
    };
    const r = await runHost(t.conn, w, { mode: 'check', cachedFacts: facts, cachedReads: ['os'] });
    assert.equal(r.error, undefined);
    assert.equal(t.scripts.length, 1);
    assert.ok(ranIp(t.scripts[0]!));
  });

  it('facts that changed since (the first part differs): every fact, the tasks rebuilt from them and probed', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const facts = await gatherFacts(localConnection);
      const old = { ...facts, kernel: { release: '2.6.9-55.EL', major: 2, minor: 6 }, hostname: 'stale' };
      const w = {
        ...work([]),
        build: (ctx: { facts: HostFacts }) => ({ tasks: [file({ name: 'F', path: join(dir, 'f'), content: `${ctx.facts.kernel.release}\n` })], handlers: {} }),
      };
      let handed: HostFacts | undefined;
      const t = recording();
      const r = await runHost(t.conn, w, { mode: 'apply', cachedFacts: old, cachedReads: ['kernel'], onFacts: (f) => (handed = f) });
      assert.equal(r.error, undefined);
      assert.equal(await readFile(join(dir, 'f'), 'utf8'), `${facts.kernel.release}\n`);
      assert.deepEqual(handed, facts);
      assert.ok(!ranIp(t.scripts[0]!) && ranIp(t.scripts[1]!), 'the first part, then every fact');
    } finally {
      await cleanup();
    }
  });

  it('a plan that reads a costly fact the last run did not: checked on the host first; the same value, the plans stand', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const facts = await gatherFacts(localConnection);
      const path = join(dir, 'p');
      const t = recording();
      const r = await runHost(t.conn, work([planReadsInterfaces(path)]), { mode: 'apply', cachedFacts: facts, cachedReads: [] });
      assert.equal(r.error, undefined);
      assert.equal(r.recap.changed, 1);
      assert.equal(await readFile(path, 'utf8'), `${facts.interfaces.map((i) => i.name).join(' ')}\n`);
      // The first round trip without the costly part, then every fact, then the change.
      assert.equal(t.scripts.length, 3);
      assert.deepEqual(t.scripts.map(ranIp), [false, true, false]);
    } finally {
      await cleanup();
    }
  });

  for (const mode of ['apply', 'check'] as const) {
    it(`a plan that reads a costly fact the last run did not, and the host's differs from the cache (${mode}): the host stops before anything planned from it is reported or sent; the cache gets the host's facts and the key`, async () => {
      const { dir, cleanup } = await tempDir();
      try {
        const facts = await gatherFacts(localConnection);
        const old = { ...facts, interfaces: [{ name: 'gone0', ipv4: ['10.9.9.9/24'], up: true }] };
        const path = join(dir, 'p');
        const ended: string[] = [];
        let handed: { facts: HostFacts; reads: FactKey[] } | undefined;
        const r = await runHost(localConnection, work([file({ name: 'F', path: join(dir, 'f'), content: 'f\n' }), planReadsInterfaces(path)]), {
          mode,
          cachedFacts: old,
          cachedReads: ['os'],
          onEvent: (e) => e.type === 'task-end' && ended.push(e.report.task),
          onFacts: (f, reads) => (handed = { facts: f, reads }),
        });
        assert.match(r.error ?? '', /facts differ from the ones its last run kept, and a task read interfaces/);
        assert.equal(r.errorKind, 'failed');
        assert.deepEqual(ended, [], 'nothing planned was reported');
        assert.deepEqual(r.tasks, []);
        await assert.rejects(readFile(path), /ENOENT/);
        await assert.rejects(readFile(join(dir, 'f')), /ENOENT/);
        assert.deepEqual(handed?.facts, facts);
        assert.ok(handed?.reads.includes('interfaces'), 'the next run gathers every fact');
      } finally {
        await cleanup();
      }
    });
  }
});
