// `init [DIR]`: a team's own repository of playbooks, inventories and templates that depends on
// provision (package.json, tsconfig, inventory/, playbooks/site.ts, templates/, .gitignore, README).
// Files come from the package's scaffold/; an existing file is never overwritten: if any target
// exists, nothing is written at all.
import { Command } from 'commander';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { UsageError } from '../core/errors.js';
import { packageDir } from './paths.js';

export interface ScaffoldFile {
  path: string;
  content: string;
}

interface OwnPackage {
  name: string;
  version: string;
  devDependencies?: Record<string, string>;
}

/** npm package name from a directory name ("Team LVS" -> "team-lvs"). */
export function packageName(dir: string): string {
  const n = basename(resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+|[-]+$/g, '');
  return n || 'lvs-cluster';
}

function walk(root: string, rel = ''): string[] {
  return readdirSync(join(root, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(root, join(rel, e.name)) : [join(rel, e.name)]));
}

/** Every file `init` writes into `dir`, with its content (nothing touches the disk). */
export function scaffoldFiles(dir: string, scaffoldDir = join(packageDir, 'scaffold')): ScaffoldFile[] {
  const own = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as OwnPackage;
  const name = packageName(dir);
  // The compiler and Node types this provision was built with: its .d.ts are checked against them.
  const dev = own.devDependencies ?? {};
  const pkg = {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    description: 'Our LVS cluster: inventories, playbooks and templates for provision',
    scripts: {
      typecheck: 'tsc --noEmit',
      check: 'provision check inventory/example.yaml',
      up: 'provision up inventory/example.yaml',
    },
    dependencies: { [own.name]: `^${own.version}` },
    devDependencies: {
      ...(dev['@types/node'] ? { '@types/node': dev['@types/node'] } : {}),
      typescript: dev.typescript ?? '^5',
    },
  };
  const files: ScaffoldFile[] = [{ path: 'package.json', content: `${JSON.stringify(pkg, null, 2)}\n` }];
  for (const rel of walk(scaffoldDir).sort()) {
    let content = readFileSync(join(scaffoldDir, rel), 'utf8');
    // npm never packs a file named .gitignore: the scaffold keeps it as `gitignore`.
    const path = rel === 'gitignore' ? '.gitignore' : rel;
    if (path === 'README.md') content = content.replaceAll('__NAME__', name);
    files.push({ path, content });
  }
  return files;
}

/** mkdir -p that records each directory it made (to remove them again if init fails). */
function mkdirs(dir: string, made: string[]): void {
  if (existsSync(dir)) return;
  mkdirs(dirname(dir), made);
  mkdirSync(dir);
  made.push(dir);
}

/** Writes the scaffold into `dir`; refuses (writing nothing) if any of its files exists. */
export function initProject(dir: string): { dir: string; written: string[] } {
  const root = resolve(dir);
  if (existsSync(root) && !statSync(root).isDirectory()) throw new UsageError(`${dir} exists and is not a directory`);
  const files = scaffoldFiles(root);
  const clashes = files.map((f) => f.path).filter((p) => existsSync(join(root, p)));
  if (clashes.length) {
    throw new UsageError(`init refuses to overwrite existing files in ${root}: ${clashes.join(', ')} (nothing was written; use an empty or new directory)`);
  }
  const written: string[] = [];
  const madeDirs: string[] = [];
  try {
    for (const f of files) {
      const target = join(root, f.path);
      mkdirs(dirname(target), madeDirs);
      writeFileSync(target, f.content, { flag: 'wx' }); // wx: a file that appeared meanwhile is not overwritten
      written.push(target);
    }
  } catch (e) {
    // Nothing half-written: remove what this call created, newest first.
    for (const w of written.reverse()) unlinkSync(w);
    for (const d of madeDirs.reverse()) {
      try {
        rmdirSync(d);
      } catch {
        /* not empty: someone else's */
      }
    }
    throw new UsageError(`init failed, nothing was written: ${(e as Error).message}`);
  }
  return { dir: root, written: written.map((w) => relative(root, w)) };
}

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description(
      'scaffold a team repository: package.json, tsconfig, inventory/, playbooks/site.ts (LVS library + a team task), templates/, .gitignore, README runbook',
    )
    .argument('[dir]', 'directory to create or fill (its files must not exist yet)', '.')
    .action((dir: string) => {
      const r = initProject(dir);
      const shown = relative(process.cwd(), r.dir) || '.';
      process.stdout.write(`created ${r.written.length} files in ${shown}/:\n${r.written.map((w) => `  ${w}\n`).join('')}`);
      process.stdout.write(
        `next:\n${shown === '.' ? '' : `  cd ${shown}\n`}  npm install\n  npm run typecheck\n  npx provision check inventory/example.yaml\n(README.md is the runbook)\n`,
      );
    });
}
