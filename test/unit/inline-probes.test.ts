// Probes marked `inline` run in the batch's own shell, one after another. Each must leave that
// shell as it found it: no exit (every later frame would be lost), the same options, directory
// and traps. Every inline probe of the project, in one batch on this machine, followed by a line
// telling the shell's state; the same line alone is the baseline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { batchProbes, type ProbeItem } from '../../src/core/batch.js';
import { FACTS_SCRIPT } from '../../src/core/facts.js';
import { raw } from '../../src/core/shell.js';
import type { Probe } from '../../src/core/types.js';
import { commandProbe } from '../../src/modules/command.js';
import { defaultRoute } from '../../src/modules/default-route.js';
import { directoryProbe } from '../../src/modules/directory.js';
import { ipAddress } from '../../src/modules/ip-address.js';
import { kernelModuleProbe } from '../../src/modules/kernel-module.js';
import { pkgProbe } from '../../src/modules/pkg.js';
import { retiredService, serviceProbe } from '../../src/modules/service.js';
import { sourceBuildProbe } from '../../src/modules/source-build.js';
import { sysctlProbe } from '../../src/modules/sysctl.js';
import { fileProbe } from '../../src/modules/file.js';
import { ipvsKernel, ipvsRules } from '../../src/lvs/ipvs-rules.js';
import { testContext } from './helpers/local-host.js';

const STATE = raw('echo "state=$-|$(pwd)|$(trap)"');
const run = (s: string) => execFileSync('/bin/sh', ['-c', s], { encoding: 'utf8', cwd: '/' });

test('every inline probe leaves the batch shell as it found it', () => {
  const ctx = testContext();
  const probes: Probe<unknown>[] = [
    directoryProbe('/etc'),
    directoryProbe('/nonexistent/provision/dir'),
    serviceProbe('provision-no-such-service', 'sysv-debian'),
    serviceProbe('provision-no-such-service', 'sysv-redhat'),
    serviceProbe('provision-no-such-service', 'systemd'),
    retiredService({ name: 'provision-no-such-service', ownedIf: { path: '/etc/hostname', marker: '' } }).probe(ctx),
    pkgProbe('coreutils', 'dpkg'),
    pkgProbe('coreutils', 'rpm'),
    commandProbe({ creates: '/etc/hostname', removes: '/nonexistent', unless: raw('exit 3'), onlyIf: raw('cd /tmp; set -e; false') }),
    defaultRoute({ via: '10.0.0.1' }).probe(ctx),
    kernelModuleProbe('ip_vs', { kind: 'etc-modules', path: '/etc/modules' }),
    ipAddress({ dev: 'lo', address: '127.0.0.1', prefix: 8 }).probe(ctx),
    sourceBuildProbe(raw('exit 1')),
    ipvsKernel().probe(ctx),
    ipvsRules({ table: [] }).probe(ctx),
    sysctlProbe('net.ipv4.ip_forward', '/etc/sysctl.conf'),
    fileProbe('file', '/etc/hostname'),
  ];
  for (const p of probes) assert.ok(p.inline || !p.script || p.shared, `${p.script.text.slice(0, 40)}: not inline`);
  const items: ProbeItem[] = [...probes, { script: FACTS_SCRIPT, inline: true }, { script: STATE, inline: true }];
  const b = batchProbes(items);
  assert.ok(!/ begin\\n' \S+ \d+\n\( /.test(b.script.text), 'no frame of these needs a subshell');
  assert.ok(/ begin\\n' \S+ \d+\n\{ /.test(b.script.text));
  const outs = b.split(run(b.script.text));
  assert.equal(outs.length, items.length);
  const want = run(STATE.text);
  assert.equal(outs.at(-1)!.stdout, want);
  // Each probe's output is what it prints alone, in a subshell of its own.
  probes.forEach((p, i) => {
    if (p.shared) return; // a shared read prints through its reader (file-read.test.ts)
    assert.equal(outs[i]!.stdout, run(`( ${p.script.text}\n) </dev/null 2>/dev/null`), p.script.text.slice(0, 60));
  });
});
