import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, stat, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { decompressor, sourceBuild, sourceBuildProbe } from '../../../src/modules/source-build.js';
import { ArtifactChecksumError, ModuleError } from '../../../src/modules/errors.js';
import { raw, sh, type Script } from '../../../src/core/shell.js';
import { sha256 } from '../../../src/modules/util.js';
import { runProbe, runSteps, tempDir, testContext } from '../helpers/local-host.js';

const scriptOf = (s: unknown): string => (s as { script: Script }).script.text;

describe('sourceBuild', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let tarball: string;
  let tarSha: string;
  let prefix: string;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const src = join(dir, 'src', 'hello-1.0');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'hello.sh'), '#!/bin/sh\necho hello 1.0\n');
    await writeFile(
      join(src, 'Makefile'),
      [
        'PREFIX ?= /usr/local',
        'all: hello',
        'hello: hello.sh',
        '\tcp hello.sh hello',
        'install: hello',
        '\tmkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/hello',
        '\tinstall -m 0755 hello $(DESTDIR)$(PREFIX)/bin/hello',
        '\techo doc > $(DESTDIR)$(PREFIX)/share/hello/README',
        '',
      ].join('\n'),
    );
    tarball = join(dir, 'hello-1.0.tar.gz');
    execFileSync('tar', ['czf', tarball, '-C', join(dir, 'src'), 'hello-1.0']);
    tarSha = sha256(await readFile(tarball));
    prefix = join(dir, 'root');
  });
  after(() => cleanup());

  it('sha256 mismatch is an ArtifactChecksumError naming file, expected and actual', async () => {
    const t = sourceBuild({ name: 'hello', artifact: 'hello-1.0.tar.gz', sha256: '0'.repeat(64), kind: 'tarball', installedCheck: raw('false') });
    await assert.rejects(
      async () => t.plan({ installed: false, checkCode: 1 }, testContext({ projectDir: dir })),
      (e: unknown) => e instanceof ArtifactChecksumError && e.file === tarball && e.expected === '0'.repeat(64) && e.actual === tarSha,
    );
  });

  it('skipped when installedCheck passes (after the checksum is verified); missing artifact is an error', async () => {
    const t = sourceBuild({ name: 'hello', artifact: 'hello-1.0.tar.gz', sha256: tarSha, kind: 'tarball', installedCheck: raw('true') });
    const state = await runProbe(t.probe(testContext()));
    assert.deepEqual(state, { installed: true, checkCode: 0 });
    assert.deepEqual(await t.plan(state, testContext({ projectDir: dir })), []);
    const missing = sourceBuild({ name: 'hello', artifact: 'nope.tar.gz', sha256: tarSha, kind: 'tarball', installedCheck: raw('true') });
    await assert.rejects(async () => missing.plan(state, testContext({ projectDir: dir })), /not readable/);
  });

  it('validates options', () => {
    assert.throws(
      () => sourceBuild({ name: 'x', artifact: 'a.zip', sha256: tarSha, kind: 'tarball', installedCheck: raw('true') }),
      /unknown tarball compression/,
    );
    assert.throws(() => sourceBuild({ name: 'x', artifact: 'a.tgz', sha256: 'abc', kind: 'tarball', installedCheck: raw('true') }), ModuleError);
    assert.throws(
      () => sourceBuild({ name: 'x', artifact: 'a.tgz', sha256: tarSha, kind: 'tarball', installedCheck: raw('true'), workdir: '/tmp/a b' }),
      ModuleError,
    );
    assert.equal(decompressor('x.tar.bz2').text, 'bzip2 -dc');
  });

  it('srpm: rpmbuild into the work dir, installs non-debuginfo rpms, undo erases new packages', async () => {
    const srpm = join(dir, 'ipvsadm-1.24-13.src.rpm');
    await writeFile(srpm, 'not really an rpm');
    const sha = sha256(await readFile(srpm));
    const t = sourceBuild({ name: 'ipvsadm', artifact: 'ipvsadm-1.24-13.src.rpm', sha256: sha, kind: 'srpm', installedCheck: raw('rpm -q ipvsadm-1.24') });
    const [c] = await t.plan({ installed: false, checkCode: 1 }, testContext({ projectDir: dir }));
    const scripts = c!.apply
      .filter((s) => s.kind === 'exec')
      .map(scriptOf)
      .join('\n');
    assert.match(scripts, /rpmbuild --rebuild --define "_topdir \$TOPDIR" "\$SRPM"/);
    assert.match(scripts, /\*-debuginfo-\*\) ;;/);
    assert.match(scripts, /rpm -Uvh \$pk/);
    assert.match(scriptOf(c!.undo![0]), /rpm -e \$n/);
  });

  it('tarball for real: stage, record, merge, idempotent check, exact undo (backup restored, new dirs removed)', async () => {
    await mkdir(join(prefix, 'bin'), { recursive: true });
    await writeFile(join(prefix, 'bin', 'hello'), 'old\n');
    await chmod(join(prefix, 'bin', 'hello'), 0o700);
    const installedCheck = sh`${join(prefix, 'bin', 'hello')} | grep -q 'hello 1.0'`;
    const t = sourceBuild({
      name: 'hello',
      artifact: 'hello-1.0.tar.gz',
      sha256: tarSha,
      kind: 'tarball',
      installedCheck,
      installScript: sh`make install DESTDIR="$STAGE" PREFIX=${prefix}`,
      workdir: join(dir, 'work'),
    });
    const ctx = testContext({ projectDir: dir });
    const state = await runProbe(t.probe(ctx));
    assert.equal(state.installed, false);
    const [c] = await t.plan(state, ctx);
    const results = await runSteps(c!.apply);
    const listing = results.map((r) => r.stdout).join('');
    assert.ok(listing.includes(`${prefix.slice(1)}/bin/hello\n`), 'installed file list printed for the journal');
    assert.ok(listing.includes(`${prefix.slice(1)}/share/hello/README\n`));
    assert.equal(execFileSync(join(prefix, 'bin', 'hello'), { encoding: 'utf8' }), 'hello 1.0\n');
    await assert.rejects(access(join(dir, 'work', `hello-${tarSha.slice(0, 12)}`)), 'scratch dir removed');
    assert.deepEqual(await runProbe(t.probe(ctx)), { installed: true, checkCode: 0 });

    await runSteps(c!.undo!);
    assert.equal(await readFile(join(prefix, 'bin', 'hello'), 'utf8'), 'old\n');
    assert.equal((await stat(join(prefix, 'bin', 'hello'))).mode & 0o7777, 0o700);
    await assert.rejects(stat(join(prefix, 'share')), { code: 'ENOENT' });
    await stat(join(prefix, 'bin'));
    await assert.rejects(access(join(dir, 'work', `hello-${tarSha.slice(0, 12)}.files`)), 'records removed after undo');
  });

  it('an install that ignores DESTDIR is caught before touching /', async () => {
    const t = sourceBuild({
      name: 'hello2',
      artifact: 'hello-1.0.tar.gz',
      sha256: tarSha,
      kind: 'tarball',
      installedCheck: raw('false'),
      installScript: raw('true'),
      workdir: join(dir, 'work2'),
    });
    const [c] = await t.plan({ installed: false, checkCode: 1 }, testContext({ projectDir: dir }));
    await assert.rejects(runSteps(c!.apply), /install put nothing into .*does it honour DESTDIR/);
  });

  it('probe parses the installedCheck exit code', () => {
    assert.deepEqual(sourceBuildProbe(raw('x')).parse({ code: 0, stdout: 'installed=127\n' }), { installed: false, checkCode: 127 });
    assert.throws(() => sourceBuildProbe(raw('x')).parse({ code: 0, stdout: '' }), ModuleError);
  });
});
