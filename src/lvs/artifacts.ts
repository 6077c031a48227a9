// Source artifacts declared in the inventory (air-gapped sites push them from the controller).
// Each is checked here, when the host's tasks are built (before any probe or change): the file
// must exist on the controller and match its pinned sha256, so a wrong or missing artifact is a
// clear error before anything is done to a host.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TaskContext } from '../core/types.js';
import { ModuleError } from '../modules/errors.js';

export interface SourceArtifact {
  path: string;
  sha256: string;
  kind: 'tarball' | 'srpm';
  version?: string;
}

/** Throws unless `path` (relative to the project) exists and hashes to `sha256`. */
export function checkArtifactFile(ctx: TaskContext, what: string, path: string, sha256: string): void {
  const local = resolve(ctx.projectDir, path);
  let data: Buffer;
  try {
    data = readFileSync(local);
  } catch (e) {
    throw new ModuleError(
      'lvs',
      `${ctx.host}: ${what}: artifact ${path} not readable on the controller (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  const actual = createHash('sha256').update(data).digest('hex');
  if (actual !== sha256) throw new ModuleError('lvs', `${ctx.host}: ${what}: ${path} has sha256 ${actual}, the inventory pins ${sha256}`);
}

/** Reads and validates an artifact var such as `ipvsadm_source: {path, sha256, kind, version}`. */
export function artifactVar(ctx: TaskContext, name: string): SourceArtifact | undefined {
  const v = ctx.vars[name];
  if (v === undefined || v === null) return undefined;
  const a = v as Partial<SourceArtifact>;
  const bad = (why: string) => new ModuleError('lvs', `${ctx.host}: ${name}.${why}`);
  if (typeof a !== 'object') throw bad(' must be a mapping {path, sha256, kind}');
  if (typeof a.path !== 'string' || !a.path) throw bad('path must be a controller path');
  if (typeof a.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(a.sha256)) throw bad('sha256 must be 64 lowercase hex digits');
  if (a.kind !== 'tarball' && a.kind !== 'srpm') throw bad('kind must be tarball or srpm');
  if (a.version !== undefined && !/^[A-Za-z0-9._:~+-]+$/.test(String(a.version))) throw bad('version has unexpected characters');
  checkArtifactFile(ctx, name, a.path, a.sha256);
  return { path: a.path, sha256: a.sha256, kind: a.kind, version: a.version === undefined ? undefined : String(a.version) };
}

export interface PushedPackage {
  name: string;
  rpm?: string;
  deb?: string;
  sha256?: string;
}

/** A list var of packages `{name, rpm|deb, sha256}`; a pushed file must carry its sha256 and match it. */
export function packageListVar(ctx: TaskContext, name: string): PushedPackage[] | undefined {
  const v = ctx.vars[name];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new ModuleError('lvs', `${ctx.host}: ${name} must be a list of {name, rpm|deb, sha256}`);
  return v.map((p, i) => {
    const e = p as Partial<PushedPackage>;
    const bad = (why: string) => new ModuleError('lvs', `${ctx.host}: ${name}[${i}]${why}`);
    if (!e || typeof e !== 'object' || typeof e.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9+._-]*$/.test(e.name)) throw bad('.name must be a package name');
    const file = e.rpm ?? e.deb;
    if (file !== undefined) {
      if (typeof file !== 'string' || !file) throw bad('.rpm/.deb must be a controller path');
      if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) throw bad(` (${e.name}): a pushed package needs sha256 (64 lowercase hex digits)`);
      if (e.rpm !== undefined && e.deb !== undefined) throw bad(` (${e.name}): give one of rpm or deb`);
      checkArtifactFile(ctx, `${name} ${e.name}`, file, e.sha256);
    }
    return { name: e.name, ...(e.rpm ? { rpm: e.rpm } : {}), ...(e.deb ? { deb: e.deb } : {}), ...(e.sha256 ? { sha256: e.sha256 } : {}) };
  });
}
