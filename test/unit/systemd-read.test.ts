// Every systemd unit's running state of a batch read by one `systemctl is-active` (SYSTEMD_RUNNING)
// must print what each service probe's own script prints. This machine runs no systemd: a named
// stand-in systemctl answers from a table, as systemd 252 does (one state per unit, in order;
// --quiet: exit 0 only for active/reloading).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { batchProbes } from '../../src/core/batch.js';
import { SYSTEMD_RUNNING } from '../../src/modules/systemd-read.js';
import { serviceProbe } from '../../src/modules/service.js';
import { tempDir } from './helpers/local-host.js';

const STATES: Record<string, string> = { mon: 'active', keepalived: 'inactive', ipvsadm: 'failed', 'lvs-director': 'reloading', nosuch: 'inactive' };

/** A stand-in systemctl: is-enabled answers "enabled"; is-active as systemd does; DROP=unit drops that unit's line. */
function standIn(): string {
  const table = Object.entries(STATES)
    .map(([u, s]) => `${u}) echo ${s} ;;`)
    .join(' ');
  return `#!/bin/sh
state() { case "$1" in ${table} *) echo inactive ;; esac; }
case "$1" in
is-enabled) echo enabled ;;
is-active)
  shift
  if [ "$1" = --quiet ]; then case $(state "$2") in active|reloading) exit 0 ;; *) exit 3 ;; esac; fi
  for u; do [ "$u" = "\${DROP:-}" ] || state "$u"; done; exit 3 ;;
esac
`;
}

describe('systemd running states shared by a batch', () => {
  let bin: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir: bin, cleanup } = await tempDir());
    await writeFile(join(bin, 'systemctl'), standIn());
    await chmod(join(bin, 'systemctl'), 0o755);
  });
  after(() => cleanup());

  const run = (script: string, env: NodeJS.ProcessEnv) => execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8', env });

  for (const drop of ['', 'ipvsadm']) {
    it(drop ? 'falls back to each unit’s own check when systemctl answers fewer units: same bytes' : 'prints for every unit what its own probe prints', () => {
      const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, DROP: drop };
      const probes = Object.keys(STATES).map((u) => serviceProbe(u, 'systemd'));
      const b = batchProbes(probes);
      const batched = b.split(run(b.script.text, env));
      const alone = probes.map((p) => run(`( ${p.script.text}\n) </dev/null 2>/dev/null`, env));
      assert.deepEqual(
        batched.map((o) => o.stdout),
        alone,
      );
      assert.deepEqual(
        probes.map((p, i) => p.parse(batched[i]!).running),
        [true, false, false, true, false],
      );
      assert.equal(b.script.text.match(/systemctl is-active mon keepalived ipvsadm lvs-director nosuch/g)?.length, 1);
    });
  }

  it('refuses output it cannot trust', () => {
    assert.throws(() => SYSTEMD_RUNNING.split('0.running=1\n', ['a', 'b']), /nothing read for b/);
    assert.throws(() => SYSTEMD_RUNNING.split('0.running=2\n1.running=0\n', ['a', 'b']), /unexpected line/);
    assert.deepEqual(SYSTEMD_RUNNING.split('1.running=0\n0.running=1\n', ['a', 'b']), ['running=1\n', 'running=0\n']);
  });
});
