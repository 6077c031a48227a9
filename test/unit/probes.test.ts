// Probe parsers on recorded output, in the spirit of pyinfra's fact fixtures: each file in
// test/fixtures/probes/ holds, per probe, cases of what real systems print (old EL, Debian,
// Ubuntu, Rocky; systemd and SysV; dpkg and rpm) and the typed state the parser must return,
// or the error it must throw. A case gives either
//   output: the probe's stdout as the host prints it (only `parse` runs), or
//   tools:  the recorded output of the commands the probe runs (chkconfig, systemctl, rpm, ...);
//           the real probe script then runs in /bin/sh with stubs printing exactly that first on
//           PATH (`only:` = nothing else on PATH but these real tools, to hide base64, sha256sum,
//           ip ...), so the shell side of branches this machine cannot reach is tested too.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import type { Probe } from '../../src/core/types.js';
import { raw } from '../../src/core/shell.js';
import { FACTS_SCRIPT, parseFacts } from '../../src/core/facts.js';
import { fileProbe } from '../../src/modules/file.js';
import { directoryProbe } from '../../src/modules/directory.js';
import { sysctlProbe } from '../../src/modules/sysctl.js';
import { kernelModuleProbe, type PersistTarget } from '../../src/modules/kernel-module.js';
import { pkgProbe } from '../../src/modules/pkg.js';
import { serviceProbe, type ServiceFlavor } from '../../src/modules/service.js';
import { sourceBuildProbe } from '../../src/modules/source-build.js';
import { commandProbe } from '../../src/modules/command.js';
import { ipAddress } from '../../src/modules/ip-address.js';
import { ipvsKernel, ipvsRules } from '../../src/lvs/ipvs-rules.js';
import { sh, tempDir, testContext } from './helpers/local-host.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const SHELL_STATE = 'provision-test-shell-state=';
const DIR = join(ROOT, 'test/fixtures/probes');

/** One recorded command answer; `args` is a shell pattern over "$*" (only `*` is special). */
interface ToolAnswer {
  args?: string;
  stdout?: string;
  stderr?: string;
  code?: number;
  /** A whole stub body instead (e.g. a tool that rejects an option, then behaves like the real one). */
  sh?: string;
}

interface FixtureFile {
  content?: string;
  /** `size` bytes of `repeat` (files above the probe's content limit). */
  repeat?: string;
  size?: number;
  mode?: string;
}

interface Case {
  case: string;
  /** Which system/version prints this, and where the format comes from. */
  source: string;
  args?: Record<string, unknown>;
  output?: string;
  code?: number;
  tools?: Record<string, ToolAnswer | ToolAnswer[]>;
  /** Real tools that stay reachable when PATH must hide the rest (symlinked into the stub dir). */
  only?: string[];
  files?: Record<string, FixtureFile>;
  expected?: unknown;
  /** Only these top-level keys of the state are compared (the rest depends on this machine). */
  compare?: string[];
  /** The parser must throw an error whose message matches this regexp. */
  error?: string;
}

interface Fixture {
  probe: string;
  defaults?: Record<string, unknown>;
  cases: Case[];
}

type Builder = (a: Record<string, any>) => Probe<unknown>;

const BUILDERS: Record<string, Builder> = {
  file: (a) => fileProbe('file', a.path),
  directory: (a) => directoryProbe(a.path),
  sysctl: (a) => sysctlProbe(a.key, a.file ?? false),
  kernelModule: (a) => kernelModuleProbe(a.name, (a.target ?? null) as PersistTarget | null),
  pkg: (a) => pkgProbe(a.name, a.db),
  service: (a) => serviceProbe(a.name, a.flavor as ServiceFlavor),
  sourceBuild: () => sourceBuildProbe(raw('ipvsadm --version')),
  command: (a) =>
    commandProbe({
      ...(a.creates ? { creates: a.creates } : {}),
      ...(a.removes ? { removes: a.removes } : {}),
      ...(a.unless ? { unless: raw(a.unless) } : {}),
      ...(a.onlyIf ? { onlyIf: raw(a.onlyIf) } : {}),
    }),
  ipAddress: (a) => ipAddress({ dev: a.dev, address: a.address, ...(a.prefix ? { prefix: a.prefix } : {}) }).probe(testContext()),
  ipvsRules: () => ipvsRules({ table: [] }).probe(testContext()),
  ipvsKernel: () => ipvsKernel().probe(testContext()),
  // The facts script sets its own PATH and reads files under $root (empty); with recorded tools it
  // keeps the caller's PATH (the stubs) and reads the case's recorded tree (files under root/).
  facts: (a) => {
    const fixed = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
    const noRoot = '\nroot=\n';
    assert.ok(FACTS_SCRIPT.text.includes(fixed) && FACTS_SCRIPT.text.includes(noRoot), 'the facts script no longer sets PATH and root as this test expects');
    const script = a.stubPath
      ? raw(FACTS_SCRIPT.text.replace(fixed, 'PATH="$PATH"').replace(noRoot, `\nroot=${shQuote(a.root ?? '/nonexistent')}\n`))
      : FACTS_SCRIPT;
    return { script, parse: (out) => parseFacts(out.stdout) };
  },
};

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A case pattern matching `args` literally except for `*`. */
function casePattern(args: string): string {
  return args
    .split('*')
    .map((p) => (p === '' ? '' : shQuote(p)))
    .join('*');
}

async function writeStub(bin: string, name: string, answers: ToolAnswer[]): Promise<void> {
  const lines = ['#!/bin/sh'];
  const single = answers.length === 1 && answers[0]!.sh !== undefined ? answers[0]!.sh : undefined;
  if (single !== undefined) lines.push(single);
  else {
    lines.push('case "$*" in');
    for (const [i, a] of answers.entries()) {
      const out = join(bin, `.${name}.${i}.out`);
      const err = join(bin, `.${name}.${i}.err`);
      await writeFile(out, a.stdout ?? '');
      await writeFile(err, a.stderr ?? '');
      lines.push(`${casePattern(a.args ?? '*')}) /bin/cat ${shQuote(out)}; /bin/cat ${shQuote(err)} >&2; exit ${a.code ?? 0};;`);
    }
    // A call the fixture did not record fails the case (see .unexpected below), not just the stub.
    lines.push('esac', `echo "${name} $*" >> ${shQuote(join(bin, '.unexpected'))}`, 'exit 99');
  }
  await writeFile(join(bin, name), `${lines.join('\n')}\n`);
  await chmod(join(bin, name), 0o755);
}

function realTool(name: string): string {
  for (const d of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) if (existsSync(join(d, name))) return join(d, name);
  throw new Error(`real tool ${name} not found on this machine`);
}

/** Replaces {{tmp}}, {{uid}}, ... in every string of a fixture value ("{{uid}}" alone becomes the number). */
function subst<T>(v: T, vars: Record<string, string | number>): T {
  if (typeof v === 'string') {
    const whole = /^\{\{(\w+)\}\}$/.exec(v);
    if (whole && vars[whole[1]!] !== undefined) return vars[whole[1]!] as T;
    return v.replace(/\{\{(\w+)\}\}/g, (m, k: string) => String(vars[k] ?? m)) as T;
  }
  if (Array.isArray(v)) return v.map((x) => subst(x, vars)) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, subst(x, vars)])) as T;
  return v;
}

/**
 * The state as plain data: a Buffer becomes its text (or "hex:..." when binary); a sha256 next
 * to content is checked against it here and dropped (the fixture gives the content, not its hash).
 */
function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v)) {
    const text = v.toString('utf8');
    return Buffer.from(text, 'utf8').equals(v) && !text.includes('\0') ? text : `hex:${v.toString('hex')}`;
  }
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (Buffer.isBuffer(o.content) && typeof o.sha256 === 'string') {
      assert.equal(o.sha256, createHash('sha256').update(o.content).digest('hex'), 'sha256 of the content');
      const { sha256: _sha, ...rest } = o;
      return plain(rest);
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

const fixtures = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe('probe parsers on recorded output', () => {
  let tmp: string;
  let cleanup: () => Promise<void>;
  let vars: Record<string, string | number>;
  before(async () => {
    ({ dir: tmp, cleanup } = await tempDir('provision-probes-'));
    const u = userInfo();
    vars = {
      tmp,
      uid: u.uid,
      gid: u.gid,
      user: u.username,
      group: execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim(),
      // This kernel's value, "32768\t60999\n" on Debian 12, as words joined by one space.
      port_range: readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).join(' '),
    };
  });
  after(() => cleanup());

  it('every probe in the code base has a fixture file', () => {
    assert.deepEqual(
      fixtures.map((f) => f.replace(/\.yaml$/, '')),
      Object.keys(BUILDERS).sort(),
    );
  });

  for (const name of fixtures) {
    const fx = yaml.load(readFileSync(join(DIR, name), 'utf8')) as Fixture;
    describe(fx.probe, () => {
      fx.cases.forEach((c, n) => {
        it(`${c.case} (${c.source})`, async () => {
          assert.ok((c.output === undefined) !== (c.tools === undefined && c.files === undefined), 'a case has output or tools/files');
          assert.ok((c.expected === undefined) !== (c.error === undefined), 'a case has expected or error');
          const caseDir = join(tmp, `${fx.probe}-${n}`);
          await mkdir(caseDir);
          const v = { ...vars, tmp: caseDir };
          const args = subst({ ...fx.defaults, ...c.args }, v);
          const build = BUILDERS[fx.probe];
          assert.ok(build, `no probe named ${fx.probe}`);
          let stdout: string;
          let code: number;
          if (c.output !== undefined) {
            stdout = c.output;
            code = c.code ?? 0;
          } else {
            for (const [f, spec] of Object.entries(c.files ?? {})) {
              const data = spec.repeat !== undefined ? Buffer.alloc(spec.size ?? 0, spec.repeat) : Buffer.from(spec.content ?? '', 'utf8');
              await mkdir(dirname(join(caseDir, f)), { recursive: true });
              await writeFile(join(caseDir, f), data);
              if (spec.mode) await chmod(join(caseDir, f), Number.parseInt(spec.mode, 8));
            }
            const bin = join(caseDir, '.bin');
            await mkdir(bin);
            for (const [tool, ans] of Object.entries(c.tools ?? {})) await writeStub(bin, tool, Array.isArray(ans) ? ans : [ans]);
            for (const t of c.only ?? []) await symlink(realTool(t), join(bin, t));
            const PATH = c.only ? bin : `${bin}:${process.env.PATH}`;
            const probe = fx.probe === 'facts' ? BUILDERS.facts!({ stubPath: true, root: join(caseDir, 'root') }) : build(args);
            // A probe a batch runs in its own shell (inline, and the facts script) runs so here too,
            // followed by a line telling the shell's options, directory and traps: it must not exit
            // nor change them (the next inline script would inherit them).
            const inline = fx.probe === 'facts' || ('inline' in probe && probe.inline === true);
            const after = `echo "${SHELL_STATE}$-|$(pwd)|$(trap)"`;
            const r = await sh(inline ? `{ ${probe.script.text}\n}\nc=$?\n${after}\nexit $c` : `( ${probe.script.text}\n)`, { env: { PATH } });
            stdout = r.stdout;
            code = r.code;
            if (inline) {
              const at = stdout.lastIndexOf(SHELL_STATE);
              assert.ok(at >= 0, 'the inline probe ended the shell (exit)');
              const base = await sh(after, { env: { PATH } });
              assert.equal(stdout.slice(at), base.stdout, "the inline probe changed the shell's options, directory or traps");
              stdout = stdout.slice(0, at);
            }
            const unexpected = join(bin, '.unexpected');
            assert.ok(!existsSync(unexpected), `calls with no recorded answer:\n${existsSync(unexpected) ? readFileSync(unexpected, 'utf8') : ''}`);
          }
          const probe = fx.probe === 'facts' ? build({ stubPath: c.output === undefined }) : build(args);
          if (c.error !== undefined) {
            assert.throws(
              () => probe.parse({ stdout, code }),
              (e: Error) => {
                assert.match(e.message, new RegExp(subst(c.error!, v)));
                return true;
              },
            );
            return;
          }
          let state = plain(probe.parse({ stdout, code })) as Record<string, unknown>;
          if (c.compare) state = Object.fromEntries(c.compare.map((k) => [k, state[k]]));
          assert.deepEqual(state, subst(c.expected, v), `probe stdout was:\n${stdout}`);
        });
      });
    });
  }
});
