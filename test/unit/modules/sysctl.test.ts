import type { Script } from '../../../src/core/shell.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  normalizeSysctl,
  persistedValue,
  persistFileFor,
  planSysctl,
  procPath,
  sysctl,
  sysctlProbe,
  sysctlWriteStep,
  type SysctlState,
} from '../../../src/modules/sysctl.js';
import { ModuleError } from '../../../src/modules/errors.js';
import type { FileState } from '../../../src/modules/file.js';
import { sha256 } from '../../../src/modules/util.js';
import { applyAll, planLocally, runProbe, runSteps, tempDir, testContext } from '../helpers/local-host.js';

const FILE = '/etc/sysctl.d/90-provision.conf';

function persisted(text: string): FileState {
  const b = Buffer.from(text);
  return { path: FILE, type: 'file', mode: '0644', uid: 0, gid: 0, owner: 'root', group: 'root', size: b.length, sha256: sha256(b), content: b };
}

function st(runtime: string | null, text: string | null): SysctlState {
  const file: FileState = text === null ? { path: FILE, type: 'absent' } : persisted(text);
  return { runtime, persisted: text === null ? null : persistedValue(text, 'net.ipv4.ip_forward'), file };
}

describe('sysctl plan (pure)', () => {
  it('ok when runtime and persisted agree', () => {
    assert.deepEqual(planSysctl('net.ipv4.ip_forward', '1', FILE, st('1', 'net.ipv4.ip_forward=1\n')), []);
  });

  it('runtime drift only: one change with the old value as undo', () => {
    const [c, ...rest] = planSysctl('net.ipv4.ip_forward', '1', FILE, st('0', 'net.ipv4.ip_forward = 1\n'));
    assert.equal(rest.length, 0);
    assert.equal(c!.summary, 'set net.ipv4.ip_forward 0 -> 1');
    assert.equal(c!.diff, '-0\n+1');
    assert.match((c!.apply[0] as { script: Script }).script.text, /sysctl -w net\.ipv4\.ip_forward=1/);
    assert.match((c!.undo![0] as { script: Script }).script.text, /sysctl -w net\.ipv4\.ip_forward=0/);
  });

  it('persisted drift only: rewrites the last key line, other lines untouched', () => {
    const text = '# ours\nnet.ipv4.ip_forward = 0\nvm.swappiness = 10\n';
    const [c, ...rest] = planSysctl('net.ipv4.ip_forward', '1', FILE, st('1', text));
    assert.equal(rest.length, 0);
    assert.equal(c!.summary, `persist net.ipv4.ip_forward = 1 in ${FILE} (was 0)`);
    assert.equal((c!.apply[0] as { stdin: Buffer }).stdin.toString(), '# ours\nnet.ipv4.ip_forward = 1\nvm.swappiness = 10\n');
    assert.ok(c!.undo);
  });

  it('missing persist file is created; persistFile false leaves files alone', () => {
    const changes = planSysctl('net.ipv4.ip_forward', '1', FILE, st('0', null));
    assert.equal(changes.length, 2);
    assert.match(changes[1]!.summary, /^persist net\.ipv4\.ip_forward = 1 in/);
    assert.equal((changes[1]!.apply[0] as { stdin: Buffer }).stdin.toString(), 'net.ipv4.ip_forward = 1\n');
    assert.equal(planSysctl('net.ipv4.ip_forward', '1', false, { runtime: '0', persisted: null, file: null }).length, 1);
  });

  it('a key missing at probe time still plans (an earlier task may load the module); no undo', () => {
    const [c] = planSysctl('net.ipv4.vs.expire_nodest_conn', '1', false, { runtime: null, persisted: null, file: null });
    assert.match(c!.summary, /not present in the kernel when probed/);
    assert.equal(c!.undo, undefined);
    assert.match((c!.apply[0] as { script: Script }).script.text, /kernel has no sysctl net\.ipv4\.vs\.expire_nodest_conn/);
  });

  it('multi-value sysctls compare word by word', () => {
    assert.equal(normalizeSysctl('32768\t60999'), '32768 60999');
    assert.equal(persistedValue('a.b=1\n  net.ipv4.ip_local_port_range =  1024   65000 \n', 'net.ipv4.ip_local_port_range'), '1024 65000');
    assert.equal(persistedValue('net.ipv4Xip_forward = 1\n', 'net.ipv4.ip_forward'), null, 'dots are literal');
  });

  it('persist file follows the facts: sysctl.conf on Red Hat sysv, sysctl.d elsewhere', () => {
    assert.equal(
      persistFileFor({}, testContext({}, { init: 'sysv', os: { family: 'redhat', id: 'centos', version: '5', prettyName: '' } })),
      '/etc/sysctl.conf',
    );
    assert.equal(persistFileFor({}, testContext({}, { init: 'sysv' })), FILE);
    assert.equal(persistFileFor({ persistFile: false }, testContext()), false);
  });

  it('validates the key', () => {
    assert.throws(() => sysctl({ key: 'net.ipv4.ip_forward; reboot', value: 1 }), ModuleError);
    assert.throws(() => sysctl({ key: 'Net.IPv4', value: 1 }), ModuleError);
    assert.equal(sysctl({ key: 'net.ipv4.conf.tunl0.arp_ignore', value: 1 }).name, 'sysctl net.ipv4.conf.tunl0.arp_ignore = 1');
    assert.equal(procPath('net.ipv4.conf.tunl0.arp_ignore'), '/proc/sys/net/ipv4/conf/tunl0/arp_ignore');
  });

  it('parses probe output', () => {
    const p = sysctlProbe('net.ipv4.ip_forward', FILE);
    const s = p.parse({
      code: 0,
      stdout: `runtime=1 \npersist.type=file\npersist.stat=644 0 0 22 root root\npersist.b64=${Buffer.from('net.ipv4.ip_forward=0\n').toString('base64')}\n`,
    });
    assert.deepEqual([s.runtime, s.persisted], ['1', '0']);
    assert.equal(p.parse({ code: 0, stdout: 'runtime_missing=1\npersist.type=absent\n' }).runtime, null);
    assert.throws(() => p.parse({ code: 0, stdout: '' }), /printed no runtime value/);
  });
});

describe('sysctl on this machine (real sh, persisted file only)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  it('probes the real runtime value and persists it to a temp file, idempotently, with undo', async () => {
    const key = 'net.ipv4.ip_local_port_range';
    const runtime = normalizeSysctl(await readFile(procPath(key), 'utf8'));
    const persistFile = join(dir, 'sysctl.conf');
    await writeFile(persistFile, `# local\n${key}=1 2\n`);
    const t = sysctl({ key, value: runtime, persistFile });
    const state = await runProbe(t.probe(testContext()));
    assert.equal(state.runtime, runtime);
    assert.equal(state.persisted, '1 2');
    const changes = await t.plan(state, testContext());
    assert.equal(changes.length, 1, 'runtime already right: only the file changes');
    const undo = await applyAll(changes);
    assert.equal(await readFile(persistFile, 'utf8'), `# local\n${key} = ${runtime}\n`);
    assert.deepEqual(await planLocally(t, testContext()), []);
    await runSteps(undo);
    assert.equal(await readFile(persistFile, 'utf8'), `# local\n${key}=1 2\n`);
  });

  it('writing a sysctl the kernel lacks fails with a clear message', async () => {
    await assert.rejects(runSteps([sysctlWriteStep('net.provision.no_such_key', '1')]), /kernel has no sysctl net\.provision\.no_such_key/);
    const s = await runProbe(sysctlProbe('net.provision.no_such_key', false));
    assert.equal(s.runtime, null);
    await stat(dir);
  });
});
