// lvs.alert run for real (perl) with mon's argument lists, good and hostile. ipvsadm is replaced
// by a RECORDING STAND-IN (named so): it logs every argv it gets and prints a table for -S -n,
// so the test sees exactly what the alert would execute. The VM lab runs it against real IPVS.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { renderTemplate } from '../../src/modules/index.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
let dir: string;
let alert: string;
let calls: string;
let table: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lvs-alert-'));
  calls = join(dir, 'calls.log');
  table = join(dir, 'table');
  const standIn = join(dir, 'ipvsadm-recording-stand-in');
  writeFileSync(
    standIn,
    `#!/bin/sh
# RECORDING STAND-IN for ipvsadm: logs its argv (one arg per line, then a separator).
for a in "$@"; do printf '%s\\n' "$a" >> ${calls}; done; echo --- >> ${calls}
[ "$1" = "-S" ] && cat ${table}
exit 0
`,
  );
  chmodSync(standIn, 0o755);
  const text = renderTemplate(ROOT, 'lvs/lvs.alert.hbs', { ipvsadmPaths: [standIn] });
  alert = join(dir, 'lvs.alert');
  writeFileSync(alert, text);
  chmodSync(alert, 0o755);
});

function runAlert(args: string[], liveTable: string) {
  writeFileSync(table, liveTable);
  writeFileSync(calls, '');
  const r = spawnSync(alert, args, { encoding: 'utf8' });
  const log = readFileSync(calls, 'utf8')
    .split('---\n')
    .filter(Boolean)
    .map((c) => c.trim().split('\n').join(' '));
  return { code: r.status, stderr: r.stderr, calls: log };
}

const MON = ['-s', 'http', '-g', 'web_rs1', '-h', '10.0.0.16', '-t', '1700000000'];
const BASE = ['-P', 'tcp', '-V', '10.0.0.18:80', '-R', '10.0.0.16:80', '-F', 'tun', '-W', '2'];
const SVC = '-A -t 10.0.0.18:80 -s rr\n';
const RS1 = '-a -t 10.0.0.18:80 -r 10.0.0.16:80 -i -w 2 --tun-type ipip\n';
const RS2 = '-a -t 10.0.0.18:80 -r 10.0.0.17:80 -i -w 1 --tun-type ipip\n';

test('the rendered alert is valid perl', () => {
  execFileSync('perl', ['-c', alert], { stdio: 'pipe' });
});

test('down: removes a present real server, exactly once, with an argument list', () => {
  const r = runAlert([...MON, ...BASE], SVC + RS1 + RS2);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.calls, ['-S -n', '-d -t 10.0.0.18:80 -r 10.0.0.16:80']);
});

test('down again (mon repeats alerts every interval): nothing to do, not an error', () => {
  const r = runAlert([...MON, ...BASE], SVC + RS2);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.calls, ['-S -n']);
  assert.match(r.stderr, /already absent/);
});

test('up: re-adds with the configured method (tun -> -i) and weight', () => {
  const r = runAlert([...MON, '-u', ...BASE], SVC + RS2);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.calls, ['-S -n', '-a -t 10.0.0.18:80 -r 10.0.0.16:80 -i -w 2']);
});

test('up when present with the same method and weight: nothing; with another weight/method: -e', () => {
  assert.deepEqual(runAlert([...MON, '-u', ...BASE], SVC + RS1 + RS2).calls, ['-S -n']);
  const drifted = runAlert([...MON, '-u', ...BASE], SVC + '-a -t 10.0.0.18:80 -r 10.0.0.16:80 -g -w 1\n');
  assert.deepEqual(drifted.calls, ['-S -n', '-e -t 10.0.0.18:80 -r 10.0.0.16:80 -i -w 2']);
});

test('a service missing from the table is left alone (exit 1, logged)', () => {
  const r = runAlert([...MON, '-u', ...BASE], '');
  assert.equal(r.code, 1);
  assert.deepEqual(r.calls, ['-S -n']);
  assert.match(r.stderr, /not in the IPVS table/);
});

test("mon's ack/disable/timeout alerts (-a -D -T -O) change nothing", () => {
  for (const f of ['-a', '-D', '-T', '-O']) {
    const r = runAlert([...MON, f, ...BASE], SVC + RS1);
    assert.equal(r.code, 0, `${f}: ${r.stderr}`);
    assert.deepEqual(r.calls, [], f);
  }
});

test('hostile arguments: refused before anything runs, nothing injected', () => {
  const marker = join(dir, 'pwned');
  const hostile: [string, string[]][] = [
    ['; in -R', ['-R', `10.0.0.16;touch ${marker}`]],
    ['$( ) in -V', ['-V', `$(touch ${marker}):80`]],
    ['backticks in -W', ['-W', `\`touch ${marker}\``]],
    ['space-separated extra flag in -W', ['-W', '1 -x 5']],
    ['newline in -F', ['-F', `tun\ntouch ${marker}`]],
    ['unknown forwarding', ['-F', 'gate']],
    ['bad protocol', ['-P', 'tcp;id']],
    ['out of range octet', ['-R', '10.0.0.256']],
    ['out of range weight', ['-W', '70000']],
    ['port 0', ['-V', '10.0.0.18:0']],
  ];
  for (const [why, override] of hostile) {
    const args = [...BASE];
    for (let i = 0; i < override.length; i += 2) args[args.indexOf(override[i]!) + 1] = override[i + 1]!;
    const r = runAlert([...MON, ...args], SVC + RS1);
    assert.equal(r.code, 2, `${why}: exit ${r.code} ${r.stderr}`);
    assert.deepEqual(r.calls, [], `${why}: ipvsadm must not run at all`);
  }
  const unknownFlag = runAlert([...MON, '-Z', 'x', ...BASE], SVC + RS1);
  assert.equal(unknownFlag.code, 2);
  assert.deepEqual(unknownFlag.calls, []);
  const extra = runAlert([...MON, ...BASE, 'extra; rm -rf /'], SVC + RS1);
  assert.equal(extra.code, 2);
  assert.deepEqual(extra.calls, []);
  assert.equal(existsSync(marker), false, 'no injected command ran');
});
