// Source artifacts declared in the inventory (air-gapped sites push them from the controller).
import type { TaskContext } from '../core/types.js';
import { ModuleError } from '../modules/errors.js';

export interface SourceArtifact {
  path: string;
  sha256: string;
  kind: 'tarball' | 'srpm';
  version?: string;
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
  return { path: a.path, sha256: a.sha256, kind: a.kind, version: a.version === undefined ? undefined : String(a.version) };
}
