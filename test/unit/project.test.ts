// A team's own project: where playbooks, templates and labs are found, and what `init` writes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initProject, packageName, scaffoldFiles } from '../../src/cli/init-command.js';
import { loadPlaybook, locatePlaybook } from '../../src/cli/playbook-loader.js';
import { distDir, packageDir } from '../../src/cli/paths.js';
import { templateFile } from '../../src/modules/template.js';
import { defaultLabBaseDir } from '../../src/lab/base-dir.js';
import { loadInventory } from '../../src/inventory/load.js';
import { UsageError } from '../../src/core/errors.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'provision-project-'));

describe('playbooks: by name from the project, else built in; by path with the project around it', () => {
  it('a built-in name from this repository is its compiled playbook, for the project at cwd', () => {
    const l = locatePlaybook('site', packageDir);
    assert.equal(l.file, join(distDir, 'playbooks', 'site.js'));
    assert.equal(l.projectDir, packageDir);
  });

  it("a team's playbooks/<name>.ts wins over a built-in of that name; a path names its project", () => {
    const team = tmp();
    writeFileSync(join(team, 'package.json'), '{}\n');
    mkdirSync(join(team, 'playbooks'));
    mkdirSync(join(team, 'inventory'));
    writeFileSync(join(team, 'playbooks', 'site.ts'), 'export default { name: "site", plays: [] };\n');
    assert.deepEqual(locatePlaybook('site', join(team, 'inventory')).file, join(team, 'playbooks', 'site.ts'));
    assert.equal(locatePlaybook('sample', team).file, join(distDir, 'playbooks', 'sample.js'), 'no sample.ts of its own: the built-in');
    assert.equal(locatePlaybook('sample', team).projectDir, team, 'a built-in run from a team repo works for that repo');
    assert.equal(locatePlaybook(join(team, 'playbooks', 'site.ts'), tmpdir()).projectDir, team);
  });

  it('loads TypeScript as it is (no build), and names a syntax error or a missing default export', async () => {
    const team = tmp();
    writeFileSync(join(team, 'package.json'), '{"type":"module"}\n');
    mkdirSync(join(team, 'playbooks'));
    // A sibling module imported as ./x.js is its .ts (the NodeNext convention tsc checks).
    writeFileSync(
      join(team, 'playbooks', 'ok.ts'),
      'import { n, type Playbook } from "../x.js";\nexport default { name: `ok${n}`, plays: [] } satisfies Playbook;\n',
    );
    writeFileSync(join(team, 'x.ts'), 'export interface Playbook { name: string; plays: unknown[] }\nexport const n: number = 2;\n');
    const ok = await loadPlaybook('playbooks/ok.ts', team);
    assert.equal(ok.playbook.name, 'ok2');
    assert.equal(ok.name, 'ok');
    writeFileSync(join(team, 'playbooks', 'bad.ts'), 'const x: number = ;\nexport default x;\n');
    await assert.rejects(loadPlaybook('playbooks/bad.ts', team), (e: unknown) => e instanceof UsageError && /bad\.ts:1:\d+/.test((e as Error).message));
    writeFileSync(join(team, 'playbooks', 'none.ts'), 'export const x = 1;\n');
    await assert.rejects(loadPlaybook('playbooks/none.ts', team), /does not export a default Playbook/);
    await assert.rejects(
      loadPlaybook('nope', team),
      (e: unknown) => e instanceof UsageError && /playbook not found: nope .*playbooks\/nope\.ts/.test((e as Error).message),
    );
  });
});

describe('templates: the project first, then the package', () => {
  it("finds a team's template, overrides a shipped one, falls back to the package's", () => {
    const team = tmp();
    mkdirSync(join(team, 'templates', 'lvs'), { recursive: true });
    writeFileSync(join(team, 'templates', 'motd.hbs'), 'x');
    writeFileSync(join(team, 'templates', 'lvs', 'mon.cf.hbs'), 'ours');
    assert.equal(templateFile(team, 'motd.hbs'), join(team, 'templates', 'motd.hbs'));
    assert.equal(templateFile(team, 'lvs/mon.cf.hbs'), join(team, 'templates', 'lvs', 'mon.cf.hbs'));
    assert.equal(templateFile(team, 'lvs/auth.cf.hbs'), join(packageDir, 'templates', 'lvs', 'auth.cf.hbs'));
    assert.throws(() => templateFile(team, '../package.json'), /escapes the templates directory/);
  });
});

describe('labs live in the user state dir, never in the package', () => {
  it('PROVISION_LAB_DIR, else an absolute XDG_STATE_HOME, else ~/.local/state', () => {
    assert.equal(defaultLabBaseDir({ PROVISION_LAB_DIR: '/srv/labs', XDG_STATE_HOME: '/x' }), '/srv/labs');
    assert.equal(defaultLabBaseDir({ XDG_STATE_HOME: '/home/u/.state' }), '/home/u/.state/provision/labs');
    assert.match(defaultLabBaseDir({ XDG_STATE_HOME: 'relative' }), /\/\.local\/state\/provision\/labs$/);
    assert.ok(!defaultLabBaseDir({}).startsWith(packageDir));
  });
});

describe('init', () => {
  it('writes a team repository whose inventory is valid and whose package.json depends on provision', () => {
    const dir = join(tmp(), 'Team LVS');
    const r = initProject(dir);
    assert.deepEqual([...r.written].sort(), [
      '.gitignore',
      'README.md',
      'inventory/example.yaml',
      'package.json',
      'playbooks/site.ts',
      'templates/team/motd.hbs',
      'tsconfig.json',
    ]);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    assert.equal(pkg.name, 'team-lvs');
    assert.equal(pkg.type, 'module');
    assert.match(pkg.dependencies.provision, /^\^\d+\.\d+\.\d+$/);
    assert.ok(pkg.devDependencies.typescript);
    assert.match(readFileSync(join(dir, 'README.md'), 'utf8'), /^# team-lvs$/m);
    const inv = loadInventory(join(dir, 'inventory', 'example.yaml'));
    assert.deepEqual([...inv.hosts.keys()].sort(), ['lb1', 'web1', 'web2']);
    assert.match(readFileSync(join(dir, 'playbooks', 'site.ts'), 'utf8'), /from 'provision\/lvs'/);
  });

  it('refuses when any file exists, naming them, and writes nothing', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'inventory'));
    writeFileSync(join(dir, 'inventory', 'example.yaml'), 'ours\n');
    writeFileSync(join(dir, 'README.md'), 'ours\n');
    assert.throws(
      () => initProject(dir),
      (e: unknown) => e instanceof UsageError && /README\.md, inventory\/example\.yaml \(nothing was written/.test((e as Error).message),
    );
    assert.deepEqual((readdirSync(dir, { recursive: true }) as string[]).sort(), ['README.md', 'inventory', 'inventory/example.yaml']);
    assert.equal(readFileSync(join(dir, 'README.md'), 'utf8'), 'ours\n');
  });

  it('a target that is a file is refused; names become npm package names', () => {
    const f = join(tmp(), 'file');
    writeFileSync(f, '');
    assert.throws(() => initProject(f), /is not a directory/);
    assert.equal(packageName('/x/My Cluster!'), 'my-cluster');
    assert.equal(packageName('/'), 'lvs-cluster');
    assert.ok(
      scaffoldFiles('/x/y').some((s) => s.path === '.gitignore'),
      'the scaffold ships gitignore as .gitignore',
    );
  });
});

describe('init that fails half-way', () => {
  it('removes every file and directory it created', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'templates'));
    writeFileSync(join(dir, 'templates', 'team'), 'a file where the scaffold wants a directory\n');
    assert.throws(
      () => initProject(dir),
      (e: unknown) => e instanceof UsageError && /init failed, nothing was written: .*ENOTDIR/.test((e as Error).message),
    );
    assert.deepEqual((readdirSync(dir, { recursive: true }) as string[]).sort(), ['templates', 'templates/team']);
  });
});
