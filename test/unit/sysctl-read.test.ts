// Every sysctl of a batch read by one tail with the batch's other paths (PATH_READER) must print, for
// each probe, exactly what the probe's own script prints (this machine's /proc/sys and /bin/sh).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { batchProbes } from '../../src/core/batch.js';
import { CHANGED, UNREAD } from '../../src/modules/file-read.js';
import { PATH_READER } from '../../src/modules/path-read.js';
import { sysctlProbe } from '../../src/modules/sysctl.js';
import { tempDir } from './helpers/local-host.js';
import { loggedTools } from './helpers/tool-wrappers.js';

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
  const batched = b.split(execFileSync('/bin/sh', ['-c', b.script.text], { env }));
  const alone = probes.map((p) => runSh(`( ${p.script.text}\n) </dev/null 2>/dev/null`, env));
  return { probes, batched, alone, script: b.script.text };
}

describe('sysctl values shared by a batch', () => {
  it('prints for every key what its own script prints, read by one tail', () => {
    const { probes, batched, alone, script } = both();
    assert.deepEqual(
      batched.map((o) => o.stdout),
      alone,
    );
    assert.equal(script.match(/tail -c \+1 -v/g)?.length, 1);
    assert.doesNotMatch(script, /awk/);
    assert.equal(script.match(/ begin\\n' /g)?.length, 1);
    assert.equal(probes[0]!.parse(batched[0]!).runtime, 'Linux');
    assert.match(String(probes[1]!.parse(batched[1]!).runtime), /^\d+ \d+$/);
    assert.equal(probes[3]!.parse(batched[3]!).runtime, null);
  });

  it('needs no base64 (a host without one): same bytes, read by the one tail', async () => {
    const { dir: bin, cleanup } = await tempDir();
    try {
      const log = join(bin, 'calls');
      const env = await loggedTools(bin, log, ['tail', 'cat']);
      await writeFile(join(bin, 'base64'), '#!/bin/sh\necho "base64: not here" >&2\nexit 127\n');
      await chmod(join(bin, 'base64'), 0o755);
      const probes = KEYS.map((k) => sysctlProbe(k, false));
      const b = batchProbes(probes);
      const batched = b.split(execFileSync('/bin/sh', ['-c', b.script.text], { env }));
      // (each key's own script reads its value with cat: none ran)
      assert.equal(runSh(`cat '${log}'`), 'tail\n');
      const alone = probes.map((p) => runSh(`( ${p.script.text}\n) </dev/null 2>/dev/null`));
      assert.deepEqual(
        batched.map((o) => o.stdout),
        alone,
      );
      assert.equal(batched[0]!.stdout, 'runtime=Linux\n');
    } finally {
      await cleanup();
    }
  });

  it('refuses output it cannot trust, and cuts values only where the heads are', () => {
    const keys = ['sysctl:/proc/sys/a', 'sysctl:/proc/sys/b'];
    const out = (t: string) => `sysctl= 0 1\nsmall=\nenc=b64\nblob=\n${t}`;
    assert.throws(() => PATH_READER.split('sysctl= 0 1\nsmall=\n', keys), /contents missing/);
    assert.throws(() => PATH_READER.split('0.runtime=1\n2.runtime=3\n', keys), /unexpected line/);
    assert.throws(() => PATH_READER.split('runtime=3\n', keys), /unexpected line/);
    assert.deepEqual(PATH_READER.split('1.runtime_missing=1\n0.runtime=1 2\n', keys), ['runtime=1 2\n', 'runtime_missing=1\n']);
    // Words joined by single spaces, as the shell's own script prints them.
    assert.deepEqual(PATH_READER.split(out('==> /proc/sys/a <==\n32768\t60999\n\n==> /proc/sys/b <==\n\n'), keys), ['runtime=32768 60999\n', 'runtime=\n']);
    // A head missing (the file went away while read): that value, the one before it (whose end
    // cannot be told) and those after it are not guessed.
    const changed = `error=${CHANGED}\n`;
    assert.deepEqual(PATH_READER.split(out('==> /proc/sys/a <==\n1\n'), keys), [changed, changed]);
    assert.deepEqual(PATH_READER.split(out('==> /proc/sys/a <==\n1\n\n==> /proc/sys/b <==\n2\nmore'), keys), ['runtime=1\n', 'runtime=2 more\n']);
    assert.deepEqual(PATH_READER.split(out('==> /proc/sys/b <==\n1\n'), keys), [changed, changed]);
    // A tail without -v prints nothing at all.
    assert.deepEqual(PATH_READER.split(out(''), keys), [`error=${UNREAD}\n`, `error=${UNREAD}\n`]);
    const probe = sysctlProbe('a', false);
    assert.throws(() => probe.parse({ stdout: changed, code: 0 }), /sysctl.*probe of a failed: changed while it was read/);
  });
});
