// Where things live: the installed package (its templates, built-in playbooks, package.json) and
// the user's project (their playbooks, templates and artifacts), which are not the same once
// provision is installed from npm into a team's repository.
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../core/package-root.js';

/** The package root: package.json, templates/, scaffold/ (this repository, or node_modules/provision). */
export const packageDir = PACKAGE_ROOT;
/** dist/: the compiled built-in playbooks are dist/playbooks/<name>.js. */
export const distDir = resolve(packageDir, 'dist');

/** Is `path` inside the provision package itself (a built-in playbook)? */
export function insidePackage(path: string): boolean {
  const p = resolve(path);
  return p === packageDir || p.startsWith(`${packageDir}/`);
}

/** The nearest directory at or above `from` holding a package.json; `from` itself when there is none. */
export function findProjectDir(from: string): string {
  const start = resolve(from);
  for (let d = start; ; d = dirname(d)) {
    if (existsSync(resolve(d, 'package.json'))) return d;
    if (dirname(d) === d) return start;
  }
}
