// Every sysctl of a batch read by one awk (SYSCTL_READER) must print, for each probe, exactly what
// the probe's own script prints (this machine's /proc/sys, /bin/sh, mawk or gawk as installed).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { batchProbes } from '../../src/core/batch.js';
import { SYSCTL_READER } from '../../src/modules/sysctl-read.js';
import { sysctlProbe } from '../../src/modules/sysctl.js';
import { tempDir } from './helpers/local-host.js';

function runSh(script: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8', env });
}

const KEYS = [
  'kernel.ostype',
  'net.ipv4.ip_local_port_range', // two words, separated by a tab
  'net.ipv4.conf.all.send_redirects',
  'net.ipv4.conf.no_such_if.arp_ignore', // missing
  'kernel.osrelease',
];

function both(env?: NodeJS.ProcessEnv) {
  const probes = KEYS.map((k) => sysctlProbe(k, false));
  const b = batchProbes(probes);
  const batched = b.split(runSh(b.script.text, env));
  const alone = probes.map((p) => runSh(`( ${p.script.text}\n) </dev/null 2>/dev/null`, env));
  return { probes, batched, alone, script: b.script.text };
}

describe('sysctl values shared by a batch', () => {
  it('prints for every key what its own script prints, read by one awk', () => {
    const { probes, batched, alone, script } = both();
    assert.deepEqual(
      batched.map((o) => o.stdout),
      alone,
    );
    assert.equal(script.match(/awk -v/g)?.length, 1);
    assert.equal(script.match(/ begin\\n' /g)?.length, 1);
    assert.equal(probes[0]!.parse(batched[0]!).runtime, 'Linux');
    assert.match(String(probes[1]!.parse(batched[1]!).runtime), /^\d+ \d+$/);
    assert.equal(probes[3]!.parse(batched[3]!).runtime, null);
  });

  it('falls back to each key’s own script when awk fails: same bytes', async () => {
    const { dir: bin, cleanup } = await tempDir();
    try {
      await writeFile(join(bin, 'awk'), '#!/bin/sh\necho "awk: cannot open file" >&2\nexit 2\n');
      await chmod(join(bin, 'awk'), 0o755);
      const { batched, alone } = both({ ...process.env, PATH: `${bin}:${process.env.PATH}` });
      assert.deepEqual(
        batched.map((o) => o.stdout),
        alone,
      );
      assert.equal(batched[0]!.stdout, 'runtime=Linux\n');
    } finally {
      await cleanup();
    }
  });

  it('refuses output it cannot trust', () => {
    const keys = ['/proc/sys/a', '/proc/sys/b'];
    assert.throws(() => SYSCTL_READER.split('0.runtime=1\n', keys), /nothing read for \/proc\/sys\/b/);
    assert.throws(() => SYSCTL_READER.split('0.runtime=1\n0.runtime=2\n1.runtime=3\n', keys), /unexpected line/);
    assert.throws(() => SYSCTL_READER.split('0.runtime=1\n2.runtime=3\n', keys), /unexpected line/);
    assert.deepEqual(SYSCTL_READER.split('1.runtime_missing=1\n0.runtime=1 2\n', keys), ['runtime=1 2\n', 'runtime_missing=1\n']);
  });
});
