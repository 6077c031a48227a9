// provision as a team installs it: `npm pack` this repository, install the tarball into an empty
// directory, `npx provision init` a team repository, install its dependencies, type-check it
// (and see a type error caught), then check and up its playbook (provision's LVS library + the
// team's own template task) against a container lab started by the installed CLI; a second up
// changes nothing. Journals land in the team's .provision/, the lab in --lab-dir, nothing under
// node_modules. Container hosts share this machine's kernel (no IPVS), so the runs are limited
// to the real servers: the director's side is proven in the VM e2e.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { labHostExec } from '../helpers/lab-control.js';
import type { RunReport } from '../../src/core/types.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url)); // dist/test/lab/ -> repo root
const LAB = 'package-test';
const PORT = 8080;

interface Out {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}
const timings: Record<string, number> = {};

function sh(cmd: string, args: string[], cwd: string, timeout = 300_000): Promise<Out> {
  const t = Date.now();
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd, timeout, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1', npm_config_update_notifier: 'false' } },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr), ms: Date.now() - t });
      },
    );
  });
}
const ok = <R extends { code: number; stdout: string; stderr: string }>(r: R, what: string): R => {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
};
// `npx --no`: the bin installed in the project, never a registry package of that name.
const npx = (cwd: string, ...args: string[]) => sh('npx', ['--no', ...args], cwd);
// Dependencies come from the npm cache this repository's `npm ci` filled (the registry only for
// metadata not cached yet); install scripts are skipped: esbuild's binary is its own package, and
// ssh2 falls back from its optional native addon (a node-gyp build would triple the time).
const npmInstall = (cwd: string, ...args: string[]) => sh('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', ...args], cwd);

let tmp: string;
let tarball: string;
let team: string;
let labDir: string;
let inventory: string;
let installedAt: number;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'provision-package-'));
  labDir = join(tmp, 'labs');
  let t = Date.now();
  // dist/ is built (scripts/setup.sh); --ignore-scripts: `prepare` would rebuild it.
  const pack = ok(await sh('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], REPO), 'npm pack');
  tarball = join(tmp, pack.stdout.trim().split('\n').pop()!);
  timings.pack = Date.now() - t;
  t = Date.now();
  const tool = join(tmp, 'tool');
  mkdirSync(tool);
  ok(await npmInstall(tool, tarball), 'npm install <tarball> in an empty directory');
  timings.installTool = Date.now() - t;
  const init = ok(await npx(tool, 'provision', 'init', '../team'), 'provision init');
  team = join(tmp, 'team');
  assert.match(init.stdout, /created 7 files in \.\.\/team\//);
  t = Date.now();
  // What `npm install` does in the new repository once provision is published: here, the tarball.
  ok(await npmInstall(team, tarball), 'npm install in the scaffold');
  timings.installTeam = Date.now() - t;
  installedAt = Date.now();
});

after(async () => {
  if (team) await npx(team, 'provision', 'lab', 'down', '--name', LAB, '--lab-dir', labDir);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  process.stderr.write(`package test timings (ms): ${JSON.stringify(timings)}\n`);
});

test('the tarball holds the built API, its declarations, the built-in playbooks, templates and scaffold; not tests or sources', async () => {
  const pkg = join(team, 'node_modules', 'provision');
  for (const f of [
    'dist/src/index.js',
    'dist/src/index.d.ts',
    'dist/src/lvs/index.js',
    'dist/src/lvs/index.d.ts',
    'dist/src/cli.js',
    'dist/playbooks/site.js',
    'templates/lvs/mon.cf.hbs',
    'scaffold/playbooks/site.ts',
    'scaffold/gitignore',
  ]) {
    assert.ok(existsSync(join(pkg, f)), `${f} is in the package`);
  }
  for (const f of ['dist/test', 'src', 'test', 'bench', 'playbooks', '.ci']) assert.ok(!existsSync(join(pkg, f)), `${f} is not in the package`);
  // The exports map: the API resolves, an internal path does not.
  const probe = `import('provision').then((m) => import('provision/lvs').then((l) => console.log(typeof m.template, typeof m.file, typeof l.lvsSite, l.lvsSite().length)))`;
  assert.match(ok(await sh(process.execPath, ['--input-type=module', '-e', probe], team), 'import the API').stdout, /^function function function [1-9]\d*$/m);
  const internal = await sh(process.execPath, ['--input-type=module', '-e', `import('provision/dist/src/core/run.js')`], team);
  assert.notEqual(internal.code, 0);
  assert.match(internal.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
});

test('the scaffold: the files a team repository needs; init refuses to overwrite and writes nothing', async () => {
  const files = ['package.json', 'tsconfig.json', '.gitignore', 'README.md', 'inventory/example.yaml', 'playbooks/site.ts', 'templates/team/motd.hbs'];
  for (const f of files) assert.ok(statSync(join(team, f)).isFile(), f);
  const pkg = JSON.parse(readFileSync(join(team, 'package.json'), 'utf8'));
  assert.equal(pkg.type, 'module');
  assert.match(pkg.dependencies.provision, /provision-0\.1\.0\.tgz$/, 'npm install pointed the dependency at the tarball');
  assert.match(readFileSync(join(team, '.gitignore'), 'utf8'), /^\.provision\/$/m);
  for (const cmd of ['provision up', 'provision check', 'provision rollback', 'provision status', 'provision lab up']) {
    assert.ok(readFileSync(join(team, 'README.md'), 'utf8').includes(cmd), `README runbook has ${cmd}`);
  }
  const before = readFileSync(join(team, 'playbooks/site.ts'), 'utf8');
  const again = await npx(team, 'provision', 'init');
  assert.equal(again.code, 2);
  assert.match(again.stderr, /refuses to overwrite existing files .*package\.json.*playbooks\/site\.ts.*nothing was written/);
  assert.equal(readFileSync(join(team, 'playbooks/site.ts'), 'utf8'), before);
  // One existing file is enough: a half-empty directory gets nothing either.
  const partial = join(tmp, 'partial');
  mkdirSync(join(partial, 'playbooks'), { recursive: true });
  writeFileSync(join(partial, 'playbooks', 'site.ts'), '// ours\n');
  const refused = await npx(team, 'provision', 'init', partial);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /existing files in .*partial: playbooks\/site\.ts \(nothing was written/);
  assert.deepEqual(readdirSync(partial, { recursive: true }).sort(), ['playbooks', 'playbooks/site.ts']);
});

test('tsc --noEmit passes on the scaffold and names a type error in a playbook by file and line', async () => {
  let t = Date.now();
  ok(await sh('npm', ['run', '--silent', 'typecheck'], team), 'npm run typecheck (tsc --noEmit)');
  timings.typecheck = Date.now() - t;
  const bad = join(team, 'playbooks', 'broken.ts');
  // A mode given as a number (0o644 is not the string '0644' the module wants) is caught before any host sees it.
  writeFileSync(
    bad,
    `import { file, type Playbook } from 'provision';\nconst p: Playbook = { name: 'x', plays: [{ name: 'x', hosts: 'all', tasks: () => [file({ path: '/etc/x', content: 'x', mode: 0o644 })] }] };\nexport default p;\n`,
  );
  t = Date.now();
  const r = await sh('npm', ['run', '--silent', 'typecheck'], team);
  rmSync(bad);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout, /playbooks\/broken\.ts\(2,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
});

test('lab up from the installed CLI writes its inventory under --lab-dir', async () => {
  const t = Date.now();
  const r = ok(await npx(team, 'provision', 'lab', 'up', '--name', LAB, '--hosts', '3', '--lab-dir', labDir), 'lab up');
  timings.labUp = Date.now() - t;
  const labInv = join(labDir, LAB, 'inventory.yaml');
  assert.ok(r.stdout.includes(`inventory: ${labInv}`), r.stdout);
  // The lab's three hosts as the team's LVS: h1 the director, h2 and h3 real servers (DR).
  const inv = yaml.load(readFileSync(labInv, 'utf8')) as {
    all: { vars: Record<string, unknown>; children: Record<string, { hosts: Record<string, Record<string, unknown>> }> };
  };
  const h = inv.all.children.lab!.hosts;
  const addr = (n: string) => String(h[n]!.ansible_host);
  const vip = addr('h1').replace(/\.\d+$/, '.100');
  const lvs = {
    all: {
      vars: {
        ...inv.all.vars,
        team: 'the package test team',
        lvs: {
          services: [
            {
              name: 'www',
              vip,
              port: PORT,
              protocol: 'tcp',
              scheduler: 'wrr',
              forwarding: 'dr',
              real_servers: [
                { host: 'h2', weight: 2 },
                { host: 'h3', weight: 1 },
              ],
              health: { monitor: 'mon', kind: 'http', url: '/', interval: 10, timeout: 5 },
            },
          ],
        },
      },
      children: {
        directors: { hosts: { h1: { ...h.h1, dip: addr('h1'), lan_interface: 'eth0' } } },
        real_servers: { hosts: { h2: { ...h.h2, rip: addr('h2') }, h3: { ...h.h3, rip: addr('h3') } } },
      },
    },
  };
  inventory = join(labDir, LAB, 'team.yaml'); // beside the lab's key and known_hosts, which it names relatively
  writeFileSync(inventory, yaml.dump(lvs));
});

test('check, up, up again: the LVS library and the team task converge, then 0 changed; rollback undoes it; state stays in the project', async () => {
  assert.ok(inventory, 'the lab is up');
  const report = (r: Out) => JSON.parse(r.stdout) as RunReport;
  const run = (cmd: string) => npx(team, 'provision', cmd, inventory, '--limit', 'real_servers', '--json');

  let t = Date.now();
  const check = await run('check');
  timings.check = Date.now() - t;
  assert.equal(check.code, 3, `check on fresh hosts shows drift (exit 3)\n${check.stderr}`);
  const planned = report(check).hosts.find((x) => x.host === 'h2')!.tasks;
  assert.ok(
    planned.some((x) => x.task === 'login banner' && x.status === 'changed'),
    'the team task is in the plan',
  );
  assert.equal(
    ok(await labHostExec(LAB, 'h2', 'cat /etc/motd 2>/dev/null; true', labDir), 'motd').stdout.includes('package test team'),
    false,
    'check changed nothing',
  );

  t = Date.now();
  const up = ok(await run('up'), 'up');
  timings.up = Date.now() - t;
  for (const hr of report(up).hosts) {
    assert.equal(hr.recap.failed, 0, JSON.stringify(hr.tasks.filter((x) => x.status === 'failed')));
    assert.ok(hr.recap.changed >= 5, `${hr.host} changed ${hr.recap.changed}`);
    const tasks = hr.tasks.map((x) => x.task);
    assert.ok(tasks.includes('login banner'), 'the team task ran');
    assert.ok(
      tasks.some((x) => /VIP/.test(x)),
      `the LVS library's real-server play ran: ${tasks.join(', ')}`,
    );
  }
  // The team's template (from the team's templates/) and the library's work, on the host itself.
  const motd = ok(await labHostExec(LAB, 'h2', 'cat /etc/motd', labDir), 'motd').stdout;
  assert.match(motd, /^h2 \(debian\) is part of the LVS cluster run by the package test team\.$/m);
  const vip = String((yaml.load(readFileSync(inventory, 'utf8')) as any).all.vars.lvs.services[0].vip);
  assert.match(ok(await labHostExec(LAB, 'h3', 'ip -o -4 addr show dev lo', labDir), 'lo').stdout, new RegExp(`inet ${vip.replace(/\./g, '\\.')}/32`));

  t = Date.now();
  const second = ok(await run('up'), 'second up');
  timings.secondUp = Date.now() - t;
  for (const hr of report(second).hosts) assert.equal(hr.recap.changed, 0, `${hr.host}: ${JSON.stringify(hr.tasks.filter((x) => x.status === 'changed'))}`);
  ok(await run('check'), 'check after up: no drift');

  // Journals in the team's .provision/ (the cwd), listed by `runs`; nothing written in the package.
  assert.equal(readdirSync(join(team, '.provision', 'runs')).filter((f) => f.endsWith('.json')).length, 2);
  assert.match(ok(await npx(team, 'provision', 'runs'), 'runs').stdout, /team\.yaml/);
  // rollback loads the team's .ts playbook again (recorded in the journal) for its handlers.
  t = Date.now();
  const rb = ok(await npx(team, 'provision', 'rollback', inventory, '--limit', 'real_servers'), 'rollback');
  timings.rollback = Date.now() - t;
  assert.doesNotMatch(rb.stderr, /handlers will not run/);
  assert.match(rb.stdout, /h2 : undone=\d+ skipped=0/);
  assert.doesNotMatch(ok(await labHostExec(LAB, 'h2', 'cat /etc/motd 2>/dev/null; true', labDir), 'motd').stdout, /package test team/);
  assert.equal((await run('check')).code, 3, 'after the rollback the hosts differ from the playbook again');

  const touched = (readdirSync(join(team, 'node_modules', 'provision'), { recursive: true }) as string[]).filter(
    (f) => statSync(join(team, 'node_modules', 'provision', f)).mtimeMs > installedAt,
  );
  assert.deepEqual(touched, [], 'nothing written under node_modules/provision');
});
