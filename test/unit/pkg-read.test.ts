// Every dpkg package of a batch read by one dpkg-query (DPKG_READER) must print, for each probe,
// exactly what the probe's own script prints: same bytes. This machine's dpkg, then recorded answers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { batchProbes } from '../../src/core/batch.js';
import { pkgProbe } from '../../src/modules/pkg.js';
import { tempDir } from './helpers/local-host.js';

function runSh(script: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8', env });
}

/** The batch's output per probe, each probe alone, and how many times dpkg-query ran in the batch. */
async function both(names: string[], stub?: string) {
  const { dir: bin, cleanup } = await tempDir();
  try {
    const log = join(bin, 'calls');
    const real = execFileSync('sh', ['-c', 'command -v dpkg-query'], { encoding: 'utf8' }).trim();
    await writeFile(join(bin, 'dpkg-query'), `#!/bin/sh\necho x >> '${log}'\n${stub ?? `exec ${real} "$@"`}\n`);
    await chmod(join(bin, 'dpkg-query'), 0o755);
    // SBIN_PATH appends the sbin directories: the stub, first in PATH, stays first.
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const probes = names.map((n) => pkgProbe(n, 'dpkg'));
    const b = batchProbes(probes);
    const batched = b.split(runSh(b.script.text, env));
    const calls = runSh(`cat '${log}'`).trim().split('\n').length;
    const alone = probes.map((p) => runSh(`( ${p.script.text}\n) </dev/null 2>/dev/null`, env));
    return { probes, batched, alone, calls };
  } finally {
    await cleanup();
  }
}

describe('dpkg packages shared by a batch', () => {
  it('prints for every package what its own script prints, with one dpkg-query (this machine)', async () => {
    const { probes, batched, alone, calls } = await both(['coreutils', 'provision-no-such-package', 'bash', 'dash', 'coreutils-not-this']);
    assert.deepEqual(
      batched.map((o) => o.stdout),
      alone,
    );
    assert.equal(calls, 1);
    assert.equal(probes[0]!.parse(batched[0]!).installed.length, 1);
    assert.deepEqual(probes[1]!.parse(batched[1]!).installed, []);
    assert.deepEqual(probes[4]!.parse(batched[4]!).installed, []);
  });

  it('gives each line to its package verbatim: two architectures, a trailing space, dpkg-query’s own order', async () => {
    // Recorded: libc6 for amd64 and i386, a purged package dpkg still lists (empty version).
    const stub = `case "$*" in
  *'\${Package}'*) printf 'libc6 install ok installed 2.36-9\\nlibc6 install ok installed 2.36-9\\nold unknown ok not-installed \\n'; exit 1 ;;
  *libc6*) printf 'install ok installed 2.36-9\\ninstall ok installed 2.36-9\\n' ;;
  *old*) printf 'unknown ok not-installed \\n' ;;
  *) exit 1 ;;
esac`;
    const { probes, batched, alone, calls } = await both(['old', 'missing', 'libc6'], stub);
    assert.deepEqual(
      batched.map((o) => o.stdout),
      alone,
    );
    assert.equal(batched[0]!.stdout, 'dpkg=unknown ok not-installed \ndone=1\n');
    assert.equal(calls, 1, 'one call in the batch');
    assert.deepEqual(probes[2]!.parse(batched[2]!).installed, ['2.36-9', '2.36-9']);
  });

  it('falls back to each package’s own script when dpkg-query fails otherwise: same bytes', async () => {
    const stub = `case "$*" in *'\${Package}'*) echo 'dpkg-query: error' >&2; exit 2 ;; esac\nexec ${execFileSync('sh', ['-c', 'command -v dpkg-query'], { encoding: 'utf8' }).trim()} "$@"`;
    const { batched, alone, calls } = await both(['coreutils', 'bash'], stub);
    assert.deepEqual(
      batched.map((o) => o.stdout),
      alone,
    );
    assert.equal(calls, 1 + 2, 'in the batch: the failed one, then one per package');
  });
});
