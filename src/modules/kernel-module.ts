// kernelModule: a kernel module is loaded now and (optionally) at every boot.
// Persistence by init system: systemd reads /etc/modules-load.d/NAME.conf; Debian sysv reads
// /etc/modules (one name per line); Red Hat sysv's rc.sysinit runs /etc/sysconfig/modules/*.modules
// (EL 5/6); EL 3/4's rc.sysinit knows only /etc/rc.modules (one executable script for all modules).
import type { HostFacts, PlannedChange, Probe, Task } from '../core/types.js';
import { SBIN_PATH, sh } from '../core/shell.js';
import { ModuleError } from './errors.js';
import { parseFileState, planFile, type FileState } from './file.js';
import { fileReads } from './path-read.js';
import { editLines } from './line-in-file.js';
import { KeyValues, checkName, meta, type TaskMeta } from './util.js';

export interface KernelModuleOptions extends TaskMeta {
  name: string;
  /** Load at boot too. Default true. */
  persist?: boolean;
}

export type PersistKind = 'modules-load.d' | 'etc-modules' | 'sysconfig-modules' | 'rc-modules';

export interface PersistTarget {
  kind: PersistKind;
  path: string;
}

export interface KernelModuleState {
  /** Loaded, or built into the kernel. */
  loaded: boolean;
  builtin: boolean;
  persistFile: FileState | null;
}

const NAME_RE = /^[A-Za-z0-9_-]+$/;

export function persistTarget(name: string, facts: HostFacts): PersistTarget {
  if (facts.init === 'systemd') return { kind: 'modules-load.d', path: `/etc/modules-load.d/${name}.conf` };
  if (facts.os.family === 'debian') return { kind: 'etc-modules', path: '/etc/modules' };
  if (facts.os.family === 'redhat' && Number.parseInt(facts.os.version, 10) <= 4) return { kind: 'rc-modules', path: '/etc/rc.modules' };
  if (facts.os.family === 'redhat') return { kind: 'sysconfig-modules', path: `/etc/sysconfig/modules/${name}.modules` };
  throw new ModuleError('kernelModule', `do not know how to load ${name} at boot on a ${facts.os.family} sysv host (set persist: false)`);
}

export function kernelModuleProbe(name: string, target: PersistTarget | null): Probe<KernelModuleState> {
  // /sys/module lists loaded and (parameterized) built-in modules with '_' for '-'; 2.4 kernels have
  // no /sys, so /proc/modules is checked too; modules.builtin catches built-ins without parameters.
  const sysName = name.replace(/-/g, '_');
  const own = sh`if [ -d ${`/sys/module/${sysName}`} ] || grep -q ${`^${sysName} `} /proc/modules 2>/dev/null; then echo loaded=1; else echo loaded=0; fi
if grep -q ${`/${name}.ko`} "/lib/modules/$(uname -r)/modules.builtin" 2>/dev/null; then echo builtin=1; else echo builtin=0; fi`;
  return {
    ...fileReads(own, target ? [{ path: target.path, prefix: 'persist.' }] : []),
    inline: true,
    blank: `loaded=0\nbuiltin=0\n${target ? 'persist.type=absent' : ''}`,
    parse(out) {
      const kv = new KeyValues(out.stdout);
      const loaded = kv.get('loaded');
      if (loaded === undefined) throw new ModuleError('kernelModule', `probe of ${name} printed no state`);
      const builtin = kv.get('builtin') === '1';
      return {
        loaded: loaded === '1' || builtin,
        builtin,
        persistFile: target ? parseFileState('kernelModule', kv, target.path, 'persist.') : null,
      };
    },
  };
}

function persistChanges(name: string, target: PersistTarget, state: FileState): PlannedChange[] {
  if (target.kind === 'etc-modules') {
    // A line "NAME" or "NAME param=value" counts as persisted: never rewrite the admin's parameters.
    const re = new RegExp(`^\\s*${name}(\\s|$)`);
    const text = state.content?.toString('utf8') ?? '';
    if (state.type === 'file' && state.content === undefined) throw new ModuleError('kernelModule', `${target.path} is too large to edit`);
    if (text.split('\n').some((l) => re.test(l))) return [];
    return planFile('kernelModule', { path: target.path, content: Buffer.from(editLines(text, { line: name, state: 'present' })) }, state);
  }
  if (target.kind === 'rc-modules') {
    // One line per module in a shared script; a new file gets a shebang and mode 0755 (rc.sysinit runs it).
    const line = `/sbin/modprobe ${name}`;
    const re = new RegExp(`^\\s*(/sbin/)?modprobe\\s+${name}(\\s|$)`);
    if (state.type === 'file' && state.content === undefined) throw new ModuleError('kernelModule', `${target.path} is too large to edit`);
    const text =
      state.type === 'file' ? state.content!.toString('utf8') : '#!/bin/sh\n# modules loaded at boot by rc.sysinit (EL 3/4); lines added by provision\n';
    if (text.split('\n').some((l) => re.test(l))) return [];
    return planFile(
      'kernelModule',
      { path: target.path, content: Buffer.from(editLines(text, { line, state: 'present' })), ...(state.type === 'file' ? {} : { mode: '0755' }) },
      state,
    );
  }
  if (target.kind === 'modules-load.d') {
    return planFile('kernelModule', { path: target.path, content: Buffer.from(`${name}\n`), mode: '0644' }, state);
  }
  const script = `#!/bin/sh\n# loads ${name} at boot (written by provision)\n/sbin/modprobe ${name} >/dev/null 2>&1\n`;
  return planFile('kernelModule', { path: target.path, content: Buffer.from(script), mode: '0755' }, state);
}

export function planKernelModule(name: string, target: PersistTarget | null, state: KernelModuleState): PlannedChange[] {
  const changes: PlannedChange[] = [];
  if (!state.loaded) {
    changes.push({
      summary: `load kernel module ${name}`,
      reason: `${name} is not loaded`,
      apply: [
        {
          kind: 'exec',
          // modprobe's own message ("Module x not found in directory ...") is kept and prefixed.
          script: sh`${SBIN_PATH}\nout=$(modprobe ${name} 2>&1) || { printf '%s\\n' ${`modprobe ${name} failed:`} "$out" >&2; exit 1; }`,
        },
      ],
      undo: [{ kind: 'exec', script: sh`${SBIN_PATH}\nmodprobe -r ${name}` }],
      before: { module: name, loaded: false },
      after: { module: name, loaded: true },
    });
  }
  if (target && state.persistFile && !state.builtin) {
    for (const c of persistChanges(name, target, state.persistFile)) {
      changes.push({ ...c, summary: `load ${name} at boot via ${target.path}: ${c.summary}` });
    }
  }
  return changes;
}

export function kernelModule(opts: KernelModuleOptions): Task<KernelModuleState> {
  const name = checkName('kernelModule', 'module name', opts.name, NAME_RE);
  const persist = opts.persist ?? true;
  return {
    ...meta(`kernel module ${name}`, opts),
    module: 'kernelModule',
    probe: (ctx) => kernelModuleProbe(name, persist ? persistTarget(name, ctx.facts) : null),
    plan: (state, ctx) => planKernelModule(name, persist ? persistTarget(name, ctx.facts) : null, state),
  };
}
