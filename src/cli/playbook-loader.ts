// Finds a playbook by name (playbooks/<name>.ts, compiled to dist/playbooks/<name>.js) or by path.
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Playbook } from '../core/types.js';
import { UsageError } from '../core/errors.js';
import { distDir } from './paths.js';

export async function loadPlaybook(nameOrPath: string): Promise<{ name: string; file: string; playbook: Playbook }> {
  let file: string;
  if (/^[a-z0-9_-]+$/i.test(nameOrPath)) {
    file = resolve(distDir, 'playbooks', `${nameOrPath}.js`);
  } else {
    // A path to playbooks/x.ts maps to its compiled twin.
    const abs = resolve(nameOrPath);
    file = abs.endsWith('.ts') ? abs.replace(/^(.*)\/playbooks\/(.*)\.ts$/, (_, root, rel) => `${root}/dist/playbooks/${rel}.js`) : abs;
  }
  if (!existsSync(file)) throw new UsageError(`playbook not found: ${nameOrPath} (looked for ${file}; run \`npm run build\` after editing playbooks)`);
  const mod = (await import(pathToFileURL(file).href)) as { default?: Playbook };
  if (!mod.default || !Array.isArray(mod.default.plays)) throw new UsageError(`${file} does not export a default Playbook`);
  return { name: basename(file, '.js'), file, playbook: mod.default };
}
