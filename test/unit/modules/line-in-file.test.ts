import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { editLines, lineInFile } from '../../../src/modules/line-in-file.js';
import { ModuleError } from '../../../src/modules/errors.js';
import { applyAll, planLocally, runSteps, tempDir, testContext } from '../helpers/local-host.js';

const ctx = testContext();

describe('editLines', () => {
  const re = /^\s*PermitRootLogin\b/;
  it('replaces the LAST regexp match only', () => {
    assert.equal(
      editLines('PermitRootLogin yes\nx\nPermitRootLogin no\n', { line: 'PermitRootLogin prohibit-password', regexp: re, state: 'present' }),
      'PermitRootLogin yes\nx\nPermitRootLogin prohibit-password\n',
    );
  });
  it('appends when nothing matches, adding a missing final newline', () => {
    assert.equal(editLines('a\nb', { line: 'c', regexp: /^c=/, state: 'present' }), 'a\nb\nc\n');
    assert.equal(editLines('', { line: 'c', state: 'present' }), 'c\n');
  });
  it('returns the same text when the line is already there', () => {
    const t = 'a\nc\n';
    assert.equal(editLines(t, { line: 'c', state: 'present' }), t);
    assert.equal(editLines(t, { line: 'c', regexp: /^zz/, state: 'present' }), t, 'exact line present, regexp unmatched: no append');
    assert.equal(editLines('a\nc', { line: 'c', regexp: /^c/, state: 'present' }), 'a\nc', 'no trailing newline is kept as is');
  });
  it('absent removes every matching line', () => {
    assert.equal(editLines('a\n#x\nb\n#y\n', { line: '', regexp: /^#/, state: 'absent' }), 'a\nb\n');
    assert.equal(editLines('a\nb\n', { line: 'a', state: 'absent' }), 'b\n');
    assert.equal(editLines('a\n', { line: 'a', state: 'absent' }), '');
    assert.equal(editLines('a\n', { line: 'q', state: 'absent' }), 'a\n');
  });
});

describe('lineInFile on this machine (real sh)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  it('replaces a line, is idempotent, undo restores the exact bytes and mode', async () => {
    const path = join(dir, 'sshd_config');
    const original = '# comment\nPermitRootLogin yes\nPort 22\n';
    await writeFile(path, original);
    await chmod(path, 0o600);
    const t = lineInFile({ path, line: 'PermitRootLogin no', regexp: '^#?PermitRootLogin' });
    const changes = await planLocally(t, ctx);
    assert.equal(changes.length, 1);
    assert.match(changes[0]!.diff!, /^-PermitRootLogin yes$/m);
    const undo = await applyAll(changes);
    assert.equal(await readFile(path, 'utf8'), '# comment\nPermitRootLogin no\nPort 22\n');
    assert.equal((await stat(path)).mode & 0o7777, 0o600, 'mode kept when not managed');
    assert.deepEqual(await planLocally(t, ctx), []);
    await runSteps(undo);
    assert.equal(await readFile(path, 'utf8'), original);
  });

  it('absent removes lines; missing file with state absent is ok', async () => {
    const path = join(dir, 'hosts');
    await writeFile(path, '127.0.0.1 localhost\n10.0.0.5 old\n');
    const t = lineInFile({ path, line: '', regexp: /^10\.0\.0\.5\s/g, state: 'absent' });
    const undo = await applyAll(await planLocally(t, ctx));
    assert.equal(await readFile(path, 'utf8'), '127.0.0.1 localhost\n');
    assert.deepEqual(await planLocally(t, ctx), []);
    await runSteps(undo);
    assert.equal(await readFile(path, 'utf8'), '127.0.0.1 localhost\n10.0.0.5 old\n');
    assert.deepEqual(await planLocally(lineInFile({ path: join(dir, 'none'), line: 'x', state: 'absent' }), ctx), []);
  });

  it('missing file: error unless create, then created and undone', async () => {
    const path = join(dir, 'created');
    await assert.rejects(planLocally(lineInFile({ path, line: 'x=1' }), ctx), (e: unknown) => e instanceof ModuleError && /create: true/.test(e.message));
    const t = lineInFile({ path, line: 'x=1', create: true, mode: '0600' });
    const undo = await applyAll(await planLocally(t, ctx));
    assert.equal(await readFile(path, 'utf8'), 'x=1\n');
    assert.deepEqual(await planLocally(t, ctx), []);
    await runSteps(undo);
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });

  it('rejects multi-line lines and bad regexps', () => {
    assert.throws(() => lineInFile({ path: '/x', line: 'a\nb' }), ModuleError);
    assert.throws(() => lineInFile({ path: '/x', line: 'a', regexp: '(' }), /invalid regexp/);
  });
});
