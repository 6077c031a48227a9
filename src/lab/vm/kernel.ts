// The guest kernel: Debian's cloud kernel package, fetched with apt on the
// controller and unpacked (never installed), plus the module dependency closure.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { q } from '../../core/shell.js';
import { LabError } from '../errors.js';
import { run } from '../run.js';

export interface DebPackage {
  name: string;
  version: string;
}

const KERNEL_NAME = /^linux-image-6\.1\.0-(\d+)-cloud-amd64$/;

/** Candidate version apt would install, or null when apt does not know the package. */
export async function candidateVersion(name: string): Promise<string | null> {
  const res = await run('apt-cache', ['policy', name], { allowFail: true });
  const m = /Candidate:\s*(\S+)/.exec(res.stdout);
  return m && m[1] !== '(none)' ? m[1] : null;
}

/** The newest linux-image-6.1.0-N-cloud-amd64 apt offers (or $PROVISION_VM_KERNEL). */
export async function pickKernelPackage(): Promise<DebPackage> {
  let name = process.env.PROVISION_VM_KERNEL;
  if (!name) {
    const res = await run('apt-cache', ['search', '--names-only', '^linux-image-6\\.1\\.0-[0-9]+-cloud-amd64$']);
    const abis = res.stdout
      .split('\n')
      .map((l) => KERNEL_NAME.exec(l.split(' ')[0] ?? ''))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]));
    if (abis.length === 0) {
      throw new LabError('apt offers no linux-image-6.1.0-*-cloud-amd64 package (run apt-get update?)', { command: 'apt-cache search' });
    }
    name = `linux-image-6.1.0-${Math.max(...abis)}-cloud-amd64`;
  }
  const version = await candidateVersion(name);
  if (!version) throw new LabError(`apt has no candidate for ${name} (run apt-get update?)`, { package: name });
  return { name, version };
}

export async function debPackage(name: string): Promise<DebPackage> {
  const version = await candidateVersion(name);
  if (!version) throw new LabError(`apt has no candidate for ${name} (run apt-get update?)`, { package: name });
  return { name, version };
}

/** Downloads `pkg` (exact version) with apt and unpacks it into `dest`. */
export async function fetchAndExtract(pkg: DebPackage, workDir: string, dest: string): Promise<void> {
  // apt-get download writes into the current directory; run() has no cwd, so cd in a shell.
  await run('sh', ['-c', `cd ${q(workDir)} && apt-get download -q ${q(`${pkg.name}=${pkg.version}`)}`], { timeoutMs: 10 * 60_000 });
  const deb = (await readdir(workDir)).find((f) => f.startsWith(`${pkg.name}_`) && f.endsWith('.deb'));
  if (!deb) throw new LabError(`apt-get download left no .deb for ${pkg.name}`, { path: workDir });
  await run('dpkg-deb', ['-x', join(workDir, deb), dest]);
}

/** modules.dep as a map: module name ("ip_vs_rr") -> { path relative to /lib/modules/KVER, direct+indirect deps }. */
export type ModuleIndex = Map<string, { path: string; deps: string[] }>;

export const moduleName = (path: string) => path.split('/').pop()!.replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_');

export function parseModulesDep(text: string): ModuleIndex {
  const index: ModuleIndex = new Map();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean);
    index.set(moduleName(path), { path, deps: deps.map(moduleName) });
  }
  return index;
}

/**
 * Every module matching `wanted` ("ip_vs_*" = prefix) plus its dependencies, in a
 * load order where each module comes after all it depends on.
 */
export function moduleClosure(index: ModuleIndex, wanted: readonly string[]): string[] {
  const roots: string[] = [];
  for (const w of wanted) {
    const n = w.replace(/-/g, '_');
    const matches = n.endsWith('*') ? [...index.keys()].filter((k) => k.startsWith(n.slice(0, -1))).sort() : index.has(n) ? [n] : [];
    if (matches.length === 0) throw new LabError(`kernel has no module ${w}`, { module: w });
    roots.push(...matches);
  }
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new LabError(`module dependency cycle at ${name}`, { module: name });
    const entry = index.get(name);
    if (!entry) throw new LabError(`modules.dep names unknown module ${name}`, { module: name });
    state.set(name, 'visiting');
    for (const d of entry.deps) visit(d);
    state.set(name, 'done');
    order.push(name);
  };
  for (const r of roots) visit(r);
  return order;
}
