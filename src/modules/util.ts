// Small helpers shared by the modules: probe output parsing, validation, hashing.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { ModuleError } from './errors.js';

/** Fields every module factory accepts besides its own options. */
export interface TaskMeta {
  name?: string;
  tags?: string[];
  notify?: string[];
}

export { KeyValues } from '../core/key-values.js';

/** Absolute, normalized POSIX path without trailing slash; rejects what no sane config path contains. */
export function checkPath(module: string, path: string): string {
  if (typeof path !== 'string' || !path.startsWith('/') || /[\0\n]/.test(path)) {
    throw new ModuleError(module, `path must be absolute and free of NUL/newline: ${JSON.stringify(path)}`);
  }
  const norm = posix.normalize(path);
  return norm.length > 1 ? norm.replace(/\/+$/, '') : norm;
}

/** Octal mode string "0644"/"644"/"4755" → canonical 4-digit string "0644". */
export function checkMode(module: string, mode: string | undefined): string | undefined {
  if (mode === undefined) return undefined;
  if (!/^[0-7]{3,4}$/.test(mode)) throw new ModuleError(module, `mode must be octal like "0644", got ${JSON.stringify(mode)}`);
  return mode.padStart(4, '0');
}

/** User/group names or numeric ids; no characters that chown would split on. */
export function checkOwner(module: string, what: 'owner' | 'group', v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(v)) throw new ModuleError(module, `${what} is not a valid name: ${JSON.stringify(v)}`);
  return v;
}

export function checkName(module: string, what: string, v: string, re: RegExp): string {
  if (typeof v !== 'string' || !re.test(v)) throw new ModuleError(module, `${what} ${JSON.stringify(v)} does not match ${re}`);
  return v;
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('error', reject)
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex')));
  });
}

export function short(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 12) : 'unknown';
}

/** The task-level fields (name/tags/notify) copied from options. */
export function meta(defaultName: string, m: TaskMeta): Pick<TaskMeta, 'tags' | 'notify'> & { name: string } {
  return {
    name: m.name ?? defaultName,
    ...(m.tags ? { tags: m.tags } : {}),
    ...(m.notify ? { notify: m.notify } : {}),
  };
}
