import { raw } from '../../../src/core/shell.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { directory, directoryProbe, planDirectory } from '../../../src/modules/directory.js';
import { ModuleError } from '../../../src/modules/errors.js';
import { applyAll, planLocally, runProbe, runSteps, sh, tempDir, testContext } from '../helpers/local-host.js';

const ctx = testContext();

describe('directory plan (pure)', () => {
  it('absent: mkdir -p with attributes; undo rmdirs exactly the created components, deepest first', () => {
    const [c] = planDirectory({ path: '/srv/a/b', mode: '0750', owner: 'daemon' }, { path: '/srv/a/b', type: 'absent', missing: ['/srv/a/b', '/srv/a'] });
    assert.equal(c!.summary, 'create directory /srv/a/b (mode 0750, daemon:-)');
    assert.deepEqual(c!.apply, [{ kind: 'exec', script: raw('mkdir -p /srv/a/b && chown daemon /srv/a/b && chmod 0750 /srv/a/b') }]);
    assert.deepEqual(c!.undo, [{ kind: 'exec', script: raw('rmdir /srv/a/b && rmdir /srv/a') }]);
  });

  it('ok, mode drift and owner drift', () => {
    const st = { path: '/d', type: 'directory' as const, mode: '0755', uid: 0, gid: 0, owner: 'root', group: 'root', missing: [] };
    assert.deepEqual(planDirectory({ path: '/d', mode: '0755', owner: 'root' }, st), []);
    const [m] = planDirectory({ path: '/d', mode: '0700' }, st);
    assert.deepEqual(m!.apply, [{ kind: 'exec', script: raw('chmod 0700 /d') }]);
    assert.deepEqual(m!.undo, [{ kind: 'exec', script: raw('chmod 0755 /d') }]);
    assert.equal(m!.diff, '-mode 0755\n+mode 0700');
    const [o] = planDirectory({ path: '/d', group: 'daemon' }, st);
    assert.deepEqual(o!.apply, [{ kind: 'exec', script: raw('chgrp daemon /d && chmod 0755 /d') }]);
    assert.deepEqual(o!.undo, [{ kind: 'exec', script: raw('chown 0:0 /d && chmod 0755 /d') }]);
  });

  it('a non-directory in the way is an error', () => {
    assert.throws(() => planDirectory({ path: '/d' }, { path: '/d', type: 'other', missing: [] }), ModuleError);
  });
});

describe('directory on this machine (real sh)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  it('creates nested dirs, is idempotent, and undo removes only what it created', async () => {
    const path = join(dir, 'a b', 'c');
    const t = directory({ path: path + '/', mode: '0750', owner: 'daemon', group: 'daemon' });
    const state = await runProbe(t.probe(ctx));
    assert.deepEqual(state.missing, [path, join(dir, 'a b')]);
    const undo = await applyAll(await t.plan(state, ctx));
    const st = await stat(path);
    assert.ok(st.isDirectory());
    assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [0o750, 1, 1]);
    assert.deepEqual(await planLocally(t, ctx), []);
    await runSteps(undo);
    await assert.rejects(stat(join(dir, 'a b')), { code: 'ENOENT' });
    await stat(dir);
  });

  it('a create carries evidence: the host prints its before-state until it ran, its after-state once it did', async () => {
    const path = join(dir, 'evidence', 'x');
    const [c] = await planLocally(directory({ path }), ctx);
    const e = c!.evidence!;
    assert.notEqual(e.before, e.after);
    assert.equal((await sh(e.check.text)).stdout, e.before);
    await runSteps(c!.apply);
    assert.equal((await sh(e.check.text)).stdout, e.after);
  });

  it('undo refuses to delete a directory that got content since', async () => {
    const path = join(dir, 'filled');
    const undo = await applyAll(await planLocally(directory({ path }), ctx));
    await writeFile(join(path, 'data'), 'x');
    await assert.rejects(runSteps(undo), /rmdir/);
  });

  it('fixes mode and owner of an existing dir and undoes it', async () => {
    const path = join(dir, 'existing');
    await mkdir(path);
    await chmod(path, 0o755);
    await chown(path, 0, 0);
    const t = directory({ path, mode: '0700', owner: 'daemon' });
    const undo = await applyAll(await planLocally(t, ctx));
    assert.deepEqual([(await stat(path)).mode & 0o7777, (await stat(path)).uid], [0o700, 1]);
    await runSteps(undo);
    const st = await stat(path);
    assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [0o755, 0, 0]);
  });

  it('a file in the way is reported', async () => {
    const path = join(dir, 'afile');
    await writeFile(path, '');
    assert.equal((await runProbe(directoryProbe(path))).type, 'other');
    await assert.rejects(planLocally(directory({ path }), ctx), /not a directory/);
  });
});
