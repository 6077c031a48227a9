import { raw, type Script } from '../../../src/core/shell.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, readFile, stat, symlink, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { file, fileProbe, parseFileState, planFile, CONTENT_LIMIT, type FileState } from '../../../src/modules/file.js';
import { ModuleError } from '../../../src/modules/errors.js';
import { KeyValues, sha256 } from '../../../src/modules/util.js';
import { applyAll, planLocally, runProbe, runSteps, sh as localSh, tempDir, testContext } from '../helpers/local-host.js';
import { loggedTools } from '../helpers/tool-wrappers.js';

const ctx = testContext();

function existing(content: string | Buffer, over: Partial<FileState> = {}): FileState {
  const b = Buffer.from(content);
  return {
    path: '/etc/x.conf',
    type: 'file',
    mode: '0644',
    uid: 0,
    gid: 0,
    owner: 'root',
    group: 'root',
    size: b.length,
    sha256: sha256(b),
    content: b,
    ...over,
  };
}

describe('file plan (pure)', () => {
  it('creates an absent file with default mode, diff and rm undo', () => {
    const [c, ...rest] = planFile('file', { path: '/etc/x.conf', content: Buffer.from('a=1\n') }, { path: '/etc/x.conf', type: 'absent' });
    assert.equal(rest.length, 0);
    assert.match(c!.summary, /^create \/etc\/x\.conf \(4 bytes, mode 0644\)/);
    assert.match(c!.diff!, /\+a=1/);
    assert.equal(c!.undo![0]!.kind, 'exec');
    assert.equal((c!.undo![0] as { script: Script }).script.text, 'rm -f /etc/x.conf');
    assert.deepEqual(c!.before, { path: '/etc/x.conf', exists: false, type: 'absent' });
    assert.equal((c!.apply[0] as { stdin: Buffer }).stdin.toString(), 'a=1\n');
  });

  it('is ok when content, mode and owner match (by name or numeric id)', () => {
    assert.deepEqual(planFile('file', { path: '/etc/x.conf', content: Buffer.from('a=1\n'), mode: '0644', owner: 'root', group: '0' }, existing('a=1\n')), []);
  });

  it('replaces content with a unified diff and an undo that restores old content and ids', () => {
    const [c] = planFile(
      'file',
      { path: '/etc/x.conf', content: Buffer.from('a=2\n') },
      existing('a=1\n', { mode: '0600', uid: 5, gid: 6, owner: 'u', group: 'g' }),
    );
    assert.match(c!.summary, /^update \/etc\/x\.conf: content/);
    assert.match(c!.diff!, /^-a=1$/m);
    assert.match(c!.diff!, /^\+a=2$/m);
    const undo = c!.undo![0] as { script: Script; stdin: Buffer };
    assert.equal(undo.stdin.toString(), 'a=1\n');
    assert.match(undo.script.text, /chown 5:6 "\$tmp" && chmod 0600 "\$tmp"/);
    // unmanaged attributes are kept: the new file gets the old ids and mode
    assert.match((c!.apply[0] as { script: Script }).script.text, /chown 5:6 "\$tmp" && chmod 0600/);
  });

  it('mode-only drift is a chmod with chmod undo, no content rewrite', () => {
    const [c] = planFile('file', { path: '/etc/x.conf', content: Buffer.from('a\n'), mode: '0640' }, existing('a\n'));
    assert.equal(c!.summary, 'set /etc/x.conf mode 0644 -> 0640');
    assert.deepEqual(c!.apply, [{ kind: 'exec', script: raw('chmod 0640 /etc/x.conf') }]);
    assert.deepEqual(c!.undo, [{ kind: 'exec', script: raw('chmod 0644 /etc/x.conf') }]);
    assert.equal(c!.diff, '-mode 0644\n+mode 0640');
  });

  it('owner-only drift chowns then re-applies the mode (chown drops setuid bits)', () => {
    const [c] = planFile('file', { path: '/usr/bin/t', content: Buffer.from('a\n'), owner: 'daemon' }, existing('a\n', { path: '/usr/bin/t', mode: '4755' }));
    assert.equal(c!.summary, 'set /usr/bin/t owner root -> daemon');
    assert.deepEqual(c!.apply, [{ kind: 'exec', script: raw('chown daemon /usr/bin/t && chmod 4755 /usr/bin/t') }]);
    assert.deepEqual(c!.undo, [{ kind: 'exec', script: raw('chown 0:0 /usr/bin/t && chmod 4755 /usr/bin/t') }]);
  });

  it('binary content gets a sha256 line instead of a diff', () => {
    const [c] = planFile('file', { path: '/etc/x.bin', content: Buffer.from([0, 1, 2]) }, existing(Buffer.from([0, 1, 3])));
    assert.match(c!.diff!, /^binary content differs \(sha256 [0-9a-f]{12} -> [0-9a-f]{12}\)$/);
  });

  it('a file too large to read is compared by sha256 and has no undo', () => {
    const big = existing('', { size: CONTENT_LIMIT + 1, sha256: 'ab'.repeat(32) });
    delete big.content;
    const [c] = planFile('file', { path: '/etc/x.conf', content: Buffer.from('new\n') }, big);
    assert.equal(c!.undo, undefined);
    assert.match(c!.summary, /no undo: previous content larger than 262144 bytes/);
    const same = existing('', { size: 4, sha256: sha256('new\n') });
    delete same.content;
    assert.deepEqual(planFile('file', { path: '/etc/x.conf', content: Buffer.from('new\n') }, same), []);
  });

  it('secret files: no diff, no content in before/after, no content-restoring undo, hidden stdin', () => {
    const [c] = planFile('file', { path: '/etc/s', content: Buffer.from('pw=new\n'), secret: true }, existing('pw=old\n'));
    assert.equal(c!.diff, undefined);
    assert.equal(c!.undo, undefined);
    assert.ok(!JSON.stringify([c!.before, c!.after, c!.summary]).includes('pw='));
    assert.ok(!(c!.apply[0] as { script: Script }).script.display.includes('pw='), 'content travels on stdin, never in the script');
    const [created] = planFile('file', { path: '/etc/s', content: Buffer.from('pw=new\n'), secret: true }, { path: '/etc/s', type: 'absent' });
    assert.equal(created!.diff, undefined);
  });

  it('refuses to replace a directory or symlink', () => {
    assert.throws(() => planFile('file', { path: '/etc', content: Buffer.from('') }, { path: '/etc', type: 'directory' }), ModuleError);
    assert.throws(() => planFile('file', { path: '/l', content: Buffer.from('') }, { path: '/l', type: 'symlink' }), /symlink/);
  });

  it('validates options', () => {
    assert.throws(() => file({ path: 'relative', content: '' }), ModuleError);
    assert.throws(() => file({ path: '/x', content: '', mode: '999' }), /mode must be octal/);
    assert.throws(() => file({ path: '/x', content: '', owner: 'a b' }), /owner/);
  });
});

describe('file probe parsing', () => {
  it('parses base64 and od hex fallbacks and checks the size', () => {
    const kv = new KeyValues('type=file\nstat=644 0 0 3 root root\nb64=YWJj\n');
    assert.equal(parseFileState('file', kv, '/x').content!.toString(), 'abc');
    const hex = parseFileState('file', new KeyValues('type=file\nstat=600 1 2 2 daemon bin\nhex=0a00\n'), '/x');
    assert.deepEqual([...hex.content!], [10, 0]);
    assert.equal(hex.mode, '0600');
    assert.equal(hex.owner, 'daemon');
    assert.throws(() => parseFileState('file', new KeyValues('type=file\nstat=644 0 0 9 root root\nb64=YWJj\n'), '/x'), /read 3 bytes, stat says 9/);
    assert.throws(() => parseFileState('file', new KeyValues(''), '/x'), /printed no state/);
  });
});

describe('file on this machine (real sh)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  it('create -> idempotent -> undo leaves nothing', async () => {
    const path = join(dir, "new file 'quoted'.conf");
    const t = file({ path, content: 'x = 1\n', mode: '0640' });
    const changes = await planLocally(t, ctx);
    assert.equal(changes.length, 1);
    const undo = await applyAll(changes);
    assert.equal(await readFile(path, 'utf8'), 'x = 1\n');
    assert.equal((await stat(path)).mode & 0o7777, 0o640);
    assert.deepEqual(await planLocally(t, ctx), []);
    await runSteps(undo);
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });

  it('replace content + mode + owner, then undo restores bytes, mode and owner exactly', async () => {
    const path = join(dir, 'app.conf');
    const original = Buffer.from('old line\nsecond\n');
    await writeFile(path, original);
    await chmod(path, 0o600);
    await chown(path, 1, 1);
    const t = file({ path, content: 'new line\nsecond\n', mode: '0644', owner: 'root', group: 'root' });
    const changes = await planLocally(t, ctx);
    assert.match(changes[0]!.summary, /content.*mode 0600 -> 0644.*owner daemon -> root/);
    const undo = await applyAll(changes);
    let st = await stat(path);
    assert.equal(await readFile(path, 'utf8'), 'new line\nsecond\n');
    assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [0o644, 0, 0]);
    assert.deepEqual(await planLocally(t, ctx), []);
    await runSteps(undo);
    st = await stat(path);
    assert.ok((await readFile(path)).equals(original));
    assert.deepEqual([st.mode & 0o7777, st.uid, st.gid], [0o600, 1, 1]);
  });

  it('mode-only and owner-only changes apply and undo for real', async () => {
    const path = join(dir, 'attrs');
    await writeFile(path, 'same\n');
    await chmod(path, 0o644);
    const t = file({ path, content: 'same\n', mode: '0600', owner: 'daemon' });
    const undo = await applyAll(await planLocally(t, ctx));
    const st = await stat(path);
    assert.deepEqual([st.mode & 0o7777, st.uid], [0o600, 1]);
    assert.deepEqual(await planLocally(t, ctx), []);
    await runSteps(undo);
    const back = await stat(path);
    assert.deepEqual([back.mode & 0o7777, back.uid, back.gid], [0o644, 0, 0]);
  });

  it('binary content with NUL and invalid UTF-8 round-trips byte for byte', async () => {
    const path = join(dir, 'blob.bin');
    const before = Buffer.from([0xff, 0, 0xfe, 10, 13, 0x80]);
    await writeFile(path, before);
    const want = Buffer.from([0, 0, 0xc3, 0x28, 10]);
    const t = file({ path, content: want });
    const changes = await planLocally(t, ctx);
    assert.match(changes[0]!.diff!, /^binary content differs/);
    const undo = await applyAll(changes);
    assert.ok((await readFile(path)).equals(want));
    assert.deepEqual(await planLocally(t, ctx), []);
    await runSteps(undo);
    assert.ok((await readFile(path)).equals(before));
  });

  it('files above the content limit are compared by sha256; replacing them has no undo', async () => {
    const path = join(dir, 'big');
    const big = Buffer.alloc(CONTENT_LIMIT + 10, 'a');
    await writeFile(path, big);
    const state = await runProbe(fileProbe('file', path));
    assert.equal(state.content, undefined);
    assert.equal(state.sha256, sha256(big));
    assert.deepEqual(await planLocally(file({ path, content: big }), ctx), []);
    const [c] = await planLocally(file({ path, content: 'small\n' }), ctx);
    assert.equal(c!.undo, undefined);
  });

  it('a new file is written by cat, chmod and mv only (no dirname, no mktemp), at its exact mode; with an owner, chown before chmod', async () => {
    const bin = join(dir, 'bin-write');
    await mkdir(bin);
    const log = join(dir, 'write.log');
    const env = await loggedTools(bin, log, ['dirname', 'mktemp', 'cat', 'chmod', 'chown', 'chgrp', 'mv']);
    for (const [name, mode, owner, programs] of [
      ['plain', '0640', undefined, 'cat chmod mv'],
      ['script', '0755', undefined, 'cat chmod mv'],
      ['sticky', '1644', undefined, 'cat chmod mv'],
      ['owned', '0644', 'daemon', 'cat chown chmod mv'],
    ] as const) {
      await writeFile(log, '');
      const path = join(dir, `made-${name}`);
      const [c] = await planLocally(file({ path, content: `${name}\n`, mode, ...(owner ? { owner } : {}) }), ctx);
      await runSteps(c!.apply, { env });
      assert.equal(await readFile(path, 'utf8'), `${name}\n`);
      const st = await stat(path);
      assert.deepEqual([(st.mode & 0o7777).toString(8), st.uid], [Number.parseInt(mode, 8).toString(8), owner ? 1 : 0], name);
      assert.equal((await readFile(log, 'utf8')).trim().split('\n').join(' '), programs, name);
    }
  });

  it('a temp name that is taken (a file, or a symlink planted there) is not followed: mktemp makes another, the mode is still exact', async () => {
    for (const mode of ['0644', '0755'] as const) {
      const path = join(dir, `taken-${mode}`);
      const target = join(dir, `planted-target-${mode}`);
      const [c] = await planLocally(file({ path, content: 'real\n', mode }), ctx);
      const step = c!.apply[0]!;
      assert.equal(step.kind, 'exec');
      if (step.kind !== 'exec') return;
      // The step's shell is this one ($$): the name it would take is planted first.
      const r = await localSh(`ln -s ${target} ${dir}/.provision.$$\n${step.script.text}`, { stdin: step.stdin });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await readFile(path, 'utf8'), 'real\n');
      assert.equal(((await stat(path)).mode & 0o7777).toString(8), Number.parseInt(mode, 8).toString(8));
      await assert.rejects(stat(target), { code: 'ENOENT' });
    }
  });

  it('fails with a clear message when the parent directory is missing', async () => {
    const path = join(dir, 'missing-dir', 'f');
    const changes = await planLocally(file({ path, content: 'x' }), ctx);
    await assert.rejects(runSteps(changes[0]!.apply), /directory .*missing-dir does not exist/);
  });

  it('a failing chown leaves the target untouched and removes the temp file', async () => {
    const sub = join(dir, 'chownfail');
    await mkdir(sub);
    const path = join(sub, 'f');
    await writeFile(path, 'keep\n');
    const changes = await planLocally(file({ path, content: 'x', owner: 'no-such-user-provision' }), ctx);
    await assert.rejects(runSteps(changes[0]!.apply));
    assert.equal(await readFile(path, 'utf8'), 'keep\n');
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual(await readdir(sub), ['f']);
  });

  it('probe reports symlinks and directories, and plan refuses them', async () => {
    const link = join(dir, 'link');
    await symlink('/etc/hostname', link);
    const t = file({ path: link, content: 'x' });
    await assert.rejects(planLocally(t, ctx), /is a symlink/);
    assert.equal((await runProbe(fileProbe('file', dir))).type, 'directory');
  });
});
