// Every directory of a batch read at once (PATH_READER) must print, for each probe, exactly
// what the probe's own script prints: same bytes. Run by this machine's /bin/sh on real paths.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { batchProbes } from '../../src/core/batch.js';
import { directoryProbe } from '../../src/modules/directory.js';
import { PATH_READER } from '../../src/modules/path-read.js';
import { tempDir } from './helpers/local-host.js';

function runSh(script: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8', env });
}

describe('directories shared by a batch', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let paths: string[];
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await mkdir(join(dir, 'plain'));
    await mkdir(join(dir, "name with 'quote' and space"));
    await mkdir(join(dir, 'setgid'));
    await chmod(join(dir, 'setgid'), 0o2775);
    await symlink(join(dir, 'plain'), join(dir, 'link-to-dir'));
    await writeFile(join(dir, 'a-file'), 'x\n');
    paths = ['plain', "name with 'quote' and space", 'setgid', 'link-to-dir', 'a-file', 'absent/deeper/still', 'plain/absent'].map((n) => join(dir, n));
  });
  after(() => cleanup());

  /** A stat wrapper in front of the real one, logging its calls; `fail` makes the batch's stat (the one with --) fail. */
  async function withStat(fail: boolean, f: (env: NodeJS.ProcessEnv, log: string) => void): Promise<void> {
    const { dir: bin, cleanup: done } = await tempDir();
    try {
      const log = join(bin, 'calls');
      const real = execFileSync('sh', ['-c', 'command -v stat'], { encoding: 'utf8' }).trim();
      const refuse = fail ? `case " $* " in *" -- "*) echo "stat: refused" >&2; exit 1 ;; esac\n` : '';
      await writeFile(join(bin, 'stat'), `#!/bin/sh\necho "$#" >> '${log}'\n${refuse}exec ${real} "$@"\n`);
      await chmod(join(bin, 'stat'), 0o755);
      f({ ...process.env, PATH: `${bin}:${process.env.PATH}` }, log);
    } finally {
      await done();
    }
  }

  for (const fail of [false, true]) {
    it(
      fail
        ? 'falls back to each path’s own script when the batch’s stat fails: same bytes'
        : 'prints for every path what its own script prints, with one stat for all directories',
      async () => {
        await withStat(fail, (env, log) => {
          const probes = paths.map((p) => directoryProbe(p));
          const b = batchProbes(probes);
          const batched = b.split(runSh(b.script.text, env));
          const calls = runSh(`cat '${log}'`).trim().split('\n');
          const alone = probes.map((p) => runSh(`( ${p.script.text}\n) </dev/null 2>/dev/null`, env));
          assert.deepEqual(
            batched.map((o) => o.stdout),
            alone,
          );
          assert.equal(b.script.text.match(/ begin\\n' /g)?.length, 1, 'one frame for every directory');
          // 4 directories (the symlink is followed): one stat of 4 paths (+ -L, -c and its format, --); or that one refused, then one each.
          assert.deepEqual(calls, fail ? ['8', '4', '4', '4', '4'] : ['8']);
          const states = probes.map((p, i) => p.parse(batched[i]!));
          assert.equal(states[2]!.mode, '2775');
          assert.equal(states[3]!.type, 'directory');
          assert.equal(states[4]!.type, 'other');
          assert.deepEqual(states[5]!.missing, [join(dir, 'absent/deeper/still'), join(dir, 'absent/deeper'), join(dir, 'absent')]);
        });
      },
    );
  }

  it('refuses lines that belong to no directory', () => {
    assert.throws(() => PATH_READER.split('0.type=directory\n0.stat=755 0 0 root root\nstat=755 0 0 root root\n', ['dir:/a', 'dir:/b']), /unexpected line/);
    assert.throws(() => PATH_READER.split('2.type=directory\n', ['dir:/a', 'dir:/b']), /unexpected line/);
    assert.deepEqual(PATH_READER.split('1.type=absent\n1.missing=/b\n0.type=directory\n0.stat=755 0 0 root root\n', ['dir:/a', 'dir:/b']), [
      'type=directory\nstat=755 0 0 root root\n',
      'type=absent\nmissing=/b\n',
    ]);
  });
});
