// The guest kernel: Debian's cloud kernel package, fetched with apt on the
// controller and unpacked (never installed), plus the module dependency closure.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sh } from '../../core/shell.js';
import { LabError } from '../errors.js';
import { run } from '../run.js';

export interface DebPackage {
  name: string;
  version: string;
}

const KERNEL_NAME = /^linux-image-6\.1\.0-(\d+)-cloud-amd64$/;

/** Candidate versions apt would install, one apt-cache call for all names; unknown names are absent. */
export async function candidateVersions(names: string[]): Promise<Map<string, string>> {
  const res = await run('apt-cache', ['policy', ...names], { allowFail: true });
  const out = new Map<string, string>();
  let current: string | null = null;
  for (const line of res.stdout.split('\n')) {
    const head = /^(\S+):$/.exec(line);
    if (head) current = head[1]!;
    const cand = /^\s+Candidate:\s*(\S+)/.exec(line);
    if (cand && current && cand[1] !== '(none)') out.set(current, cand[1]!);
  }
  return out;
}

/** The newest linux-image-6.1.0-N-cloud-amd64 name apt knows (or $PROVISION_VM_KERNEL). */
export async function pickKernelName(): Promise<string> {
  if (process.env.PROVISION_VM_KERNEL) return process.env.PROVISION_VM_KERNEL;
  // pkgnames (a prefix lookup) answers in well under a second; `apt-cache search` takes seconds.
  const res = await run('apt-cache', ['pkgnames', 'linux-image-6.1.0-']);
  const abis = res.stdout
    .split('\n')
    .map((l) => KERNEL_NAME.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
  if (abis.length === 0) {
    throw new LabError('apt knows no linux-image-6.1.0-*-cloud-amd64 package (run apt-get update?)', { command: 'apt-cache pkgnames' });
  }
  return `linux-image-6.1.0-${Math.max(...abis)}-cloud-amd64`;
}

/** Resolves package names to the exact versions apt would fetch now. */
export async function resolvePackages(names: string[]): Promise<DebPackage[]> {
  const versions = await candidateVersions(names);
  return names.map((name) => {
    const version = versions.get(name);
    if (!version) throw new LabError(`apt has no candidate for ${name} (run apt-get update?)`, { package: name });
    return { name, version };
  });
}

/** Downloads `pkg` (exact version) with apt and unpacks it into `dest`. */
export async function fetchAndExtract(pkg: DebPackage, workDir: string, dest: string): Promise<void> {
  // apt-get download writes into the current directory; run() has no cwd, so cd in a shell.
  await run('sh', ['-c', sh`cd ${workDir} && apt-get download -q ${`${pkg.name}=${pkg.version}`}`.text], { timeoutMs: 10 * 60_000 });
  const deb = (await readdir(workDir)).find((f) => f.startsWith(`${pkg.name}_`) && f.endsWith('.deb'));
  if (!deb) throw new LabError(`apt-get download left no .deb for ${pkg.name}`, { path: workDir });
  await run('dpkg-deb', ['-x', join(workDir, deb), dest]);
}

/** modules.dep as a map: module name ("ip_vs_rr") -> { path relative to /lib/modules/KVER, direct+indirect deps }. */
export type ModuleIndex = Map<string, { path: string; deps: string[] }>;

export const moduleName = (path: string) =>
  path
    .split('/')
    .pop()!
    .replace(/\.ko(\.\w+)?$/, '')
    .replace(/-/g, '_');

export function parseModulesDep(text: string): ModuleIndex {
  const index: ModuleIndex = new Map();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean);
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
