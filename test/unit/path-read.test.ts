// Directories, files and sysctl values of one batch read together (PATH_READER): each probe gets
// exactly what its own script prints, and the whole batch starts one stat and one tail
// (this machine's /bin/sh, coreutils and /proc/sys; wrappers in front of the real tools log calls).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { batchProbes } from '../../src/core/batch.js';
import { CHANGED } from '../../src/modules/file-read.js';
import { directoryProbe } from '../../src/modules/directory.js';
import { fileProbe } from '../../src/modules/file.js';
import { sysctlProbe } from '../../src/modules/sysctl.js';
import { tempDir } from './helpers/local-host.js';
import { loggedTools } from './helpers/tool-wrappers.js';

function runSh(script: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8', env });
}

/** The output as sent, as a connection hands it to the batch. */
const runShBytes = (script: string, env: NodeJS.ProcessEnv = process.env): Buffer => execFileSync('/bin/sh', ['-c', script], { env });

describe('directories, files and sysctls read together', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await mkdir(join(dir, 'web'));
    await writeFile(join(dir, 'web', 'index.html'), '<p>hi</p>\n');
    await writeFile(join(dir, 'motd'), 'managed\n');
    await writeFile(join(dir, 'sysctl.conf'), 'net.ipv4.conf.all.send_redirects = 0\n');
  });
  after(() => cleanup());

  const probes = () => [
    directoryProbe(join(dir, 'web')),
    directoryProbe(join(dir, 'absent', 'deeper')),
    fileProbe('file', join(dir, 'web', 'index.html')),
    fileProbe('file', join(dir, 'motd')),
    fileProbe('file', join(dir, 'no-such-file')),
    sysctlProbe('net.ipv4.ip_local_port_range', join(dir, 'sysctl.conf')),
    sysctlProbe('kernel.ostype', false),
    sysctlProbe('net.ipv4.conf.no_such_if.arp_ignore', false),
  ];

  it('prints for every probe what its own script prints, with one stat and one tail for all', async () => {
    const { dir: bin, cleanup: done } = await tempDir();
    try {
      const log = join(bin, 'calls');
      const env = await loggedTools(bin, log, ['stat', 'tail', 'base64', 'awk', 'cat']);
      const ps = probes();
      const b = batchProbes(ps);
      const batched = b.split(runShBytes(b.script.text, env));
      const calls = runSh(`cat '${log}'`).trim().split('\n');
      assert.deepEqual(calls, ['stat', 'tail']);
      const alone = ps.map((p) => runSh(`( ${p.script.text}\n) </dev/null 2>/dev/null`));
      assert.deepEqual(
        batched.map((o) => o.stdout),
        alone,
      );
      assert.equal(b.script.text.match(/ begin\\n' /g)?.length, 1, 'one frame for every path');
      const [d0, d1, f0, , f2, s0, s1, s2] = ps.map((p, i) => p.parse(batched[i]!) as unknown as Record<string, unknown>);
      assert.equal(d0!.type, 'directory');
      assert.deepEqual(d1!.missing, [join(dir, 'absent', 'deeper'), join(dir, 'absent')]);
      assert.equal((f0!.content as Buffer).toString(), '<p>hi</p>\n');
      assert.equal(f2!.type, 'absent');
      assert.match(String(s0!.runtime), /^\d+ \d+$/);
      assert.equal(s0!.persisted, null);
      assert.equal(s1!.runtime, 'Linux');
      assert.equal(s2!.runtime, null);
    } finally {
      await done();
    }
  });

  // tail reads the values first, then the small files: index.html, motd, sysctl.conf.
  it('reports a file that changed while read and the files after it; the values and the files before it are read', async () => {
    const { dir: bin, cleanup: done } = await tempDir();
    try {
      const motd = join(dir, 'motd');
      const env = await loggedTools(bin, join(bin, 'calls'), ['tail'], { tail: `printf more >> '${motd}'` });
      const ps = probes();
      const b = batchProbes(ps);
      const outs = b.split(runShBytes(b.script.text, env));
      assert.equal((ps[2]!.parse(outs[2]!) as { content?: Buffer }).content?.toString(), '<p>hi</p>\n');
      assert.ok(outs[3]!.stdout.includes(`error=${CHANGED}`), outs[3]!.stdout);
      // The port range's value is read, its persist file (after motd) is not: the probe fails.
      assert.match(outs[5]!.stdout, /^runtime=\d+ \d+\npersist\.type=file\npersist\.stat=.*\npersist\.error=changed while it was read/);
      assert.throws(() => ps[5]!.parse(outs[5]!), /changed while it was read/);
      assert.equal(outs[6]!.stdout, 'runtime=Linux\n');
    } finally {
      await done();
    }
  });
});
