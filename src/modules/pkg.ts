// pkg: a package installed (optionally at a version) or absent, through the host's package manager,
// or pushed from a controller file (.deb/.rpm) when the host has no repository for it.
import { basename, resolve } from 'node:path';
import type { PlannedChange, Probe, Step, Task, TaskContext } from '../core/types.js';
import { SBIN_PATH, type Script, raw, sh } from '../core/shell.js';
import { ModuleError } from './errors.js';
import { sharedProbe } from '../core/batch.js';
import { DPKG_READER } from './pkg-read.js';
import { readDebMeta, readRpmMeta, type PackageMeta } from './package-meta.js';
import { KeyValues, checkName, meta, sha256File, type TaskMeta } from './util.js';

export interface PkgOptions extends TaskMeta {
  name: string;
  /** Wanted version: exact ("1:1.31-1", "1.24-10.el5") or upstream prefix ("1.31" matches "1.31-1"). */
  version?: string;
  state?: 'present' | 'absent';
  /** Controller path (relative to projectDir) of a .deb to push on dpkg hosts. */
  deb?: string;
  /** Controller path (relative to projectDir) of an .rpm to push on rpm hosts. */
  rpm?: string;
  /** apt only: run `apt-get update` before installing. */
  updateCache?: boolean;
}

export interface PkgState {
  db: 'dpkg' | 'rpm';
  /** Installed versions (several with multiarch/multilib); empty = not installed. */
  installed: string[];
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9+._-]*$/;
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9+.~:_-]*$/;
const APT_ENV = raw('DEBIAN_FRONTEND=noninteractive');

export function pkgProbe(name: string, db: 'dpkg' | 'rpm' | 'unknown'): Probe<PkgState> {
  if (db === 'unknown') throw new ModuleError('pkg', `host has no known package database (dpkg/rpm) for ${name}`);
  // dpkg: read with every other package of the batch (one dpkg-query for all).
  const parts =
    db === 'dpkg'
      ? sharedProbe(null, [{ reader: DPKG_READER, key: name, prefix: '' }])
      : {
          script: sh`${SBIN_PATH}
if rpm -q ${name} >/dev/null 2>&1; then rpm -q --qf ${'%{VERSION}-%{RELEASE}\\n'} ${name} | sed 's/^/rpm=/'; fi
echo done=1`,
        };
  return {
    ...parts,
    inline: true,
    blank: 'done=1',
    parse(out) {
      const kv = new KeyValues(out.stdout);
      if (!kv.has('done')) throw new ModuleError('pkg', `probe of ${name} did not complete`);
      if (db === 'rpm') return { db, installed: kv.all('rpm').filter((v) => v !== '') };
      // "${Status} ${Version}": "install ok installed 1.2-3"; removed-but-configured is "deinstall ok config-files".
      const installed = kv
        .all('dpkg')
        .map((l) => l.split(' '))
        .filter((w) => w[2] === 'installed' && w[3])
        .map((w) => w[3]!);
      return { db, installed };
    },
  };
}

/** Exact match, or `wanted` is the upstream part of `installed` (epoch ignored unless wanted has one). */
export function versionMatches(installed: string, wanted: string): boolean {
  const i = wanted.includes(':') ? installed : installed.replace(/^\d+:/, '');
  return i === wanted || i.startsWith(`${wanted}-`);
}

type Manager = TaskContext['facts']['packageManager'];

function installScript(pm: Manager, name: string, version: string | undefined, updateCache: boolean): Script {
  switch (pm) {
    case 'apt': {
      const spec = version ? `${name}=${version}` : name;
      return sh`${updateCache ? sh`${APT_ENV} apt-get update -qq && ` : raw('')}${APT_ENV} apt-get -y -o Dpkg::Options::=--force-confold install ${spec}`;
    }
    case 'dnf':
    case 'yum':
      return sh`${pm} -y install ${version ? `${name}-${version}` : name}`;
    case 'up2date':
      if (version) throw new ModuleError('pkg', `up2date cannot install a pinned version of ${name}; push an rpm instead`);
      return sh`up2date -i ${name}`;
    default:
      throw new ModuleError('pkg', `no supported package manager to install ${name}`);
  }
}

function removeScript(pm: Manager, db: 'dpkg' | 'rpm', name: string): Script {
  if (pm === 'apt') return sh`${APT_ENV} apt-get -y remove ${name}`;
  if (pm === 'dnf' || pm === 'yum') return sh`${pm} -y remove ${name}`;
  return db === 'dpkg' ? sh`dpkg -r ${name}` : sh`rpm -e ${name}`;
}

function exec(script: Script): Step {
  return { kind: 'exec', script: sh`${SBIN_PATH}\n${script}` };
}

/** A pushed package, already checked on the controller. */
export interface LocalPackage {
  localPath: string;
  sha256: string;
  meta: PackageMeta;
}

function localInstallSteps(db: 'dpkg' | 'rpm', pkg: LocalPackage): Step[] {
  const remote = `/tmp/provision-${pkg.sha256.slice(0, 16)}.${db === 'dpkg' ? 'deb' : 'rpm'}`;
  const f = remote;
  const name = pkg.meta.name;
  // dpkg -i does not fetch dependencies; apt-get -f install does when a repository has them.
  // Verified afterwards: apt-get -f may "fix" things by removing the package again.
  const script =
    db === 'dpkg'
      ? sh`${APT_ENV} dpkg -i --force-confold ${f}; rc=$?
if [ $rc -ne 0 ] && command -v apt-get >/dev/null 2>&1; then ${APT_ENV} apt-get -y -o Dpkg::Options::=--force-confold -f install; rc=$?; fi
rm -f ${f}
[ $rc -eq 0 ] || exit $rc
dpkg-query -W -f='\${Status}' ${name} 2>/dev/null | grep -q ' installed$' || { echo ${`${pkg.meta.name} is not installed after dpkg -i (unmet dependencies?)`} >&2; exit 1; }`
      : sh`rpm -Uvh --oldpackage ${f}; rc=$?\nrm -f ${f}\nexit $rc`;
  return [{ kind: 'upload', localPath: pkg.localPath, remotePath: remote, mode: 0o600 }, exec(script)];
}

export function planPkg(
  opts: { name: string; version?: string; state: 'present' | 'absent'; updateCache?: boolean },
  state: PkgState,
  pm: Manager,
  local?: LocalPackage,
): PlannedChange[] {
  const { name } = opts;
  const before = { package: name, installed: state.installed };
  if (opts.state === 'absent') {
    if (state.installed.length === 0) return [];
    return [
      {
        summary: `remove package ${name} ${state.installed.join(', ')} (no undo: reinstalling needs the package source)`,
        reason: `${name} is installed`,
        diff: `-${name} ${state.installed.join(', ')}`,
        apply: [exec(removeScript(pm, state.db, name))],
        before,
        after: { package: name, installed: [] },
      },
    ];
  }
  const wanted = local?.meta.version ?? opts.version;
  const how = local ? `from ${basename(local.localPath)}` : `with ${pm}`;
  const apply = local ? localInstallSteps(state.db, local) : [exec(installScript(pm, name, opts.version, opts.updateCache ?? false))];
  const target = wanted ?? 'latest';
  if (state.installed.length === 0) {
    return [
      {
        summary: `install package ${name} ${target} ${how}`,
        reason: `${name} is not installed`,
        diff: `+${name} ${target}`,
        apply,
        undo: [exec(local ? (state.db === 'dpkg' ? sh`dpkg -r ${name}` : sh`rpm -e ${name}`) : removeScript(pm, state.db, name))],
        before,
        after: { package: name, installed: wanted ? [wanted] : ['any'] },
      },
    ];
  }
  if (wanted === undefined || state.installed.some((v) => versionMatches(v, wanted))) return [];
  return [
    {
      summary: `change package ${name} ${state.installed.join(', ')} -> ${wanted} ${how} (no undo: an exact downgrade needs the old package)`,
      reason: `installed version differs from ${wanted}`,
      diff: `-${name} ${state.installed.join(', ')}\n+${name} ${wanted}`,
      apply,
      before,
      after: { package: name, installed: [wanted] },
    },
  ];
}

/** Reads and checks a pushed package on the controller: its name must be the task's. */
export async function loadLocalPackage(name: string, db: 'dpkg' | 'rpm', file: string): Promise<LocalPackage> {
  const [m, sha] = await Promise.all([db === 'dpkg' ? readDebMeta(file) : readRpmMeta(file), sha256File(file)]);
  if (m.name !== name) throw new ModuleError('pkg', `${file} contains package ${m.name}, not ${name}`);
  return { localPath: file, sha256: sha, meta: m };
}

export function pkg(opts: PkgOptions): Task<PkgState> {
  const name = checkName('pkg', 'package name', opts.name, NAME_RE);
  if (opts.version !== undefined) checkName('pkg', 'version', opts.version, VERSION_RE);
  const state = opts.state ?? 'present';
  return {
    ...meta(`package ${name}${state === 'absent' ? ' absent' : ''}`, opts),
    module: 'pkg',
    probe: (ctx) => pkgProbe(name, ctx.facts.packageDb),
    // Installing a package can change any file, service or user: its writes are "*".
    footprint: () => ({ reads: [`pkg:${name}`], writes: ['*'] }),
    async plan(s, ctx) {
      const rel = s.db === 'dpkg' ? opts.deb : opts.rpm;
      if ((opts.deb || opts.rpm) && !rel && state === 'present') {
        throw new ModuleError('pkg', `${name}: host uses ${s.db} but only a ${opts.deb ? '.deb' : '.rpm'} was given`, ctx.host);
      }
      const local = rel && state === 'present' ? await loadLocalPackage(name, s.db, resolve(ctx.projectDir, rel)) : undefined;
      return planPkg(
        { name, state, ...(opts.version ? { version: opts.version } : {}), ...(opts.updateCache ? { updateCache: true } : {}) },
        s,
        ctx.facts.packageManager,
        local,
      );
    },
  };
}
