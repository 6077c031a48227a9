// Finds and loads a playbook: by name (the project's playbooks/<name>.ts, else a built-in one
// compiled to dist/playbooks/<name>.js) or by path. TypeScript is loaded as it is, without a build
// step, through tsx (types are stripped, not checked: `tsc --noEmit` in the project checks them).
import { existsSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Playbook } from '../core/types.js';
import type { Inventory } from '../inventory/types.js';
import { UsageError } from '../core/errors.js';
import { distDir, findProjectDir, insidePackage } from './paths.js';

export interface LoadedPlaybook {
  name: string;
  /** The file loaded (recorded in the run's journal: rollback loads it again for its handlers). */
  file: string;
  playbook: Playbook;
  /** The project relative controller paths (templates/, artifacts) resolve against first. */
  projectDir: string;
}

const TS = new Set(['.ts', '.mts', '.cts']);

/** Where a playbook named or pathed `nameOrPath` is, and the project it belongs to. */
export function locatePlaybook(nameOrPath: string, cwd = process.cwd()): { file: string; projectDir: string; tried: string[] } {
  const cwdProject = findProjectDir(cwd);
  if (/^[a-z0-9_-]+$/i.test(nameOrPath)) {
    const tried: string[] = [];
    // A team's own playbooks/<name>.ts wins over a built-in of that name (this repository's own
    // playbooks/ are the built-ins: their compiled twins are used).
    if (!insidePackage(cwdProject)) {
      const own = resolve(cwdProject, 'playbooks', `${nameOrPath}.ts`);
      tried.push(own);
      if (existsSync(own)) return { file: own, projectDir: cwdProject, tried };
    }
    const builtIn = resolve(distDir, 'playbooks', `${nameOrPath}.js`);
    tried.push(builtIn);
    return { file: builtIn, projectDir: cwdProject, tried };
  }
  const file = resolve(cwd, nameOrPath);
  // A built-in given by path (as rollback does with a recorded file) works for the caller's project.
  return { file, projectDir: insidePackage(file) ? cwdProject : findProjectDir(dirname(file)), tried: [file] };
}

export async function loadPlaybook(nameOrPath: string, cwd = process.cwd()): Promise<LoadedPlaybook> {
  const { file, projectDir, tried } = locatePlaybook(nameOrPath, cwd);
  if (!existsSync(file)) {
    // Working in provision's own repository: its playbooks/ run compiled.
    const hint = insidePackage(file) && insidePackage(findProjectDir(cwd)) ? '; run `npm run build` after editing playbooks' : '';
    throw new UsageError(`playbook not found: ${nameOrPath} (looked for ${tried.join(', ')}${hint})`);
  }
  const ext = extname(file);
  let mod: { default?: Playbook };
  try {
    // The TypeScript loader (and esbuild) only when a playbook is TypeScript: built-ins are compiled.
    mod = TS.has(ext) ? await (await import('tsx/esm/api')).tsImport(pathToFileURL(file).href, import.meta.url) : await import(pathToFileURL(file).href);
  } catch (e) {
    // A syntax error names file:line:column (esbuild); a failing import names the module.
    throw new UsageError(`cannot load playbook ${file}: ${(e as Error).message}`);
  }
  const playbook = mod.default;
  if (!playbook || !Array.isArray(playbook.plays)) throw new UsageError(`${file} does not export a default Playbook (export default { name, plays: [...] })`);
  return { name: basename(file, ext), file, playbook, projectDir };
}

/** The playbook's own check of the inventory (Playbook.preflight), before any host is contacted: a usage error (exit 2). */
export function preflight(playbook: Playbook, name: string, inventory: Inventory): void {
  const problems = playbook.preflight?.(inventory) ?? [];
  if (problems.length) throw new UsageError(`${inventory.file}: the ${name} playbook cannot run on this inventory: ${problems.join('; ')}`);
}
