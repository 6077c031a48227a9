// Static checks of every script provision would write, on every target (all golden renders):
//   shell (#!/bin/sh): `sh -n` (dash, a POSIX sh) and `checkbashisms` (Debian's devscripts): the
//     init and boot scripts must run on bash 2.05 / any POSIX sh (RHEL 3, CentOS 4).
//   perl: `perl -c` and Perl::MinimumVersion (Debian's libperl-minimumversion-perl): nothing newer
//     than Perl 5.8 (CentOS 4 ships 5.8.5), e.g. no `//`.
// Both tools come from scripts/setup.sh; a missing tool fails the test (nothing is skipped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CASES, rendered } from './helpers/renders.js';

const dir = mkdtempSync(join(tmpdir(), 'provision-rendered-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) assert.fail(`${cmd} cannot run (${r.error.message}): install it with scripts/setup.sh`);
  return r;
}

/** Perl::MinimumVersion's verdict on a file, e.g. "5.008" (syntax and explicit `use VERSION`). */
function perlMinimum(file: string): string {
  const r = run('perl', [
    '-MPerl::MinimumVersion',
    '-e',
    'my $p = Perl::MinimumVersion->new($ARGV[0]) or die "cannot parse\\n"; my $v = $p->minimum_version; print defined $v ? $v->numify : "none";',
    file,
  ]);
  assert.equal(r.status, 0, `Perl::MinimumVersion failed on ${file}: ${r.stderr}`);
  return r.stdout.trim();
}

async function scripts() {
  const out: { where: string; kind: 'sh' | 'perl'; text: string }[] = [];
  for (const c of CASES) {
    for (const [host, h] of Object.entries((await rendered(c)).hosts)) {
      for (const f of h.files) {
        const text = f.content.toString('utf8');
        const first = text.split('\n', 1)[0]!;
        const where = `${c.name}/${host}:${f.path}`;
        if (/^#!\s*\/bin\/sh\b/.test(first)) out.push({ where, kind: 'sh', text });
        else if (/^#!.*\bperl\b/.test(first)) out.push({ where, kind: 'perl', text });
        else assert.doesNotMatch(first, /^#!/, `${where}: a script with an interpreter this test does not check: ${first}`);
      }
    }
  }
  return out;
}

test('every rendered shell script parses with sh -n and has no bashisms (checkbashisms)', async () => {
  const list = (await scripts()).filter((s) => s.kind === 'sh');
  const seen = new Set<string>();
  for (const s of list) {
    if (seen.has(s.text)) continue;
    seen.add(s.text);
    const file = join(dir, `s${seen.size}.sh`);
    writeFileSync(file, s.text);
    const n = run('sh', ['-n', file]);
    assert.equal(n.status, 0, `sh -n ${s.where}: ${n.stderr}`);
    const b = run('checkbashisms', ['--posix', '--force', file]);
    assert.equal(b.status, 0, `checkbashisms ${s.where}:\n${b.stderr}${b.stdout}`);
  }
  // Init scripts, boot scripts, rc.modules and *.modules of every target.
  assert.ok(
    list.some((s) => s.where.endsWith('/etc/init.d/mon')),
    'mon init script checked',
  );
  assert.ok(
    list.some((s) => s.where.endsWith('/etc/init.d/lvs-realserver')),
    'lvs-realserver init script checked',
  );
  assert.ok(
    list.some((s) => s.where.endsWith('/etc/rc.modules')),
    'rc.modules checked',
  );
  assert.ok(seen.size >= 10, `distinct shell scripts checked: ${seen.size}`);
});

test('checkbashisms does catch what old shells lack (the check can fail)', () => {
  const file = join(dir, 'bashism.sh');
  writeFileSync(file, '#!/bin/sh\nif [[ -n "$1" ]]; then echo -n x; fi\nsource /etc/x\n');
  const b = run('checkbashisms', ['--posix', '--force', file]);
  assert.notEqual(b.status, 0, 'checkbashisms accepted [[ ]], echo -n and source');
});

test('every rendered perl script compiles (perl -c) and needs no perl newer than 5.8', async () => {
  const list = (await scripts()).filter((s) => s.kind === 'perl');
  assert.ok(list.length >= 6, `perl scripts: ${list.length}`);
  const seen = new Set<string>();
  for (const s of list) {
    if (seen.has(s.text)) continue;
    seen.add(s.text);
    const file = join(dir, `p${seen.size}.pl`);
    writeFileSync(file, s.text);
    const c = run('perl', ['-c', file]);
    assert.equal(c.status, 0, `perl -c ${s.where}: ${c.stderr}`);
    const min = perlMinimum(file);
    assert.ok(min === 'none' || Number(min) <= 5.008, `${s.where} needs perl ${min} (CentOS 4 has 5.8.5)`);
  }
});

test('Perl::MinimumVersion does flag 5.10 syntax (the check can fail)', () => {
  const file = join(dir, 'defined-or.pl');
  writeFileSync(file, '#!/usr/bin/perl\nuse strict;\nmy %h;\nmy $x = $h{a} // 1;\nprint "$x\\n";\n');
  assert.equal(Number(perlMinimum(file)) >= 5.01, true);
});

test('every command a render would run parses with sh -n (build steps, guards, undo-able commands)', async () => {
  const cmds = new Map<string, string>();
  for (const c of CASES) {
    for (const [host, h] of Object.entries((await rendered(c)).hosts)) {
      for (const cmd of h.commands) if (!cmd.startsWith('upload ') && !cmds.has(cmd)) cmds.set(cmd, `${c.name}/${host}`);
    }
  }
  assert.ok(cmds.size > 50, `commands checked: ${cmds.size}`);
  // One sh -n for all (each command as a function body); only on failure one by one, to name it.
  const all = join(dir, 'commands.sh');
  writeFileSync(all, [...cmds.keys()].map((cmd, i) => `f${i}() {\n${cmd}\n}\n`).join(''));
  if (run('sh', ['-n', all]).status === 0) return;
  for (const [cmd, where] of cmds) {
    const file = join(dir, 'one.sh');
    writeFileSync(file, cmd);
    const n = run('sh', ['-n', file]);
    assert.equal(n.status, 0, `sh -n ${where}: ${n.stderr}\n${cmd}`);
  }
  assert.fail('the commands fail sh -n together but not one by one');
});
