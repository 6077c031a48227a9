// sysctl: a kernel parameter's runtime value (/proc/sys) and its persisted `key = value` line.
//
// A key missing from /proc/sys at probe time is NOT a plan error: probes of a host run before any
// task applies, and keys such as net.ipv4.vs.* only appear once an earlier task loaded ip_vs.
// The task then plans the change and its apply step fails with "kernel has no sysctl KEY" if the
// key is still missing at that point.
import { fileKey, own } from '../core/footprint.js';
import type { Evidence, PlannedChange, Probe, Step, Task, TaskContext } from '../core/types.js';
import { SBIN_PATH, sh } from '../core/shell.js';
import { ModuleError } from './errors.js';
import { parseFileState, type FileState } from './file.js';
import { fileRead, sysctlRead } from './path-read.js';
import { sharedProbe } from '../core/batch.js';
import { planLineEdit } from './line-in-file.js';
import { KeyValues, checkName, checkPath, meta, type TaskMeta } from './util.js';

export interface SysctlOptions extends TaskMeta {
  key: string;
  value: string | number;
  /**
   * Where the `key = value` line is kept; false = runtime only. Default: /etc/sysctl.conf on
   * Red Hat sysv hosts (their rc.sysinit reads only that file), else /etc/sysctl.d/90-provision.conf.
   */
  persistFile?: string | false;
}

export interface SysctlState {
  /** Normalized runtime value; null when /proc/sys has no such key. */
  runtime: string | null;
  /** Normalized value of the last `key = ...` line in the persist file; null when none. */
  persisted: string | null;
  file: FileState | null;
}

const KEY_RE = /^[a-z0-9_.-]+$/;
export const DEFAULT_SYSCTL_FILE = '/etc/sysctl.d/90-provision.conf';

/** Multi-value sysctls (ip_local_port_range) print tabs; compare word by word. */
export function normalizeSysctl(v: string | number): string {
  return String(v).trim().split(/\s+/).join(' ');
}

export function procPath(key: string): string {
  return `/proc/sys/${key.replace(/\./g, '/')}`;
}

export function persistFileFor(opts: Pick<SysctlOptions, 'persistFile'>, ctx: TaskContext): string | false {
  if (opts.persistFile !== undefined) return opts.persistFile;
  return ctx.facts.init === 'sysv' && ctx.facts.os.family === 'redhat' ? '/etc/sysctl.conf' : DEFAULT_SYSCTL_FILE;
}

function keyRegexp(key: string): RegExp {
  return new RegExp(`^\\s*${key.replace(/[.]/g, '\\.')}\\s*=`);
}

export function persistedValue(content: string, key: string): string | null {
  const re = keyRegexp(key);
  let found: string | null = null;
  for (const line of content.split('\n')) if (re.test(line)) found = normalizeSysctl(line.slice(line.indexOf('=') + 1));
  return found;
}

export function sysctlProbe(key: string, file: string | false): Probe<SysctlState> {
  return {
    // The runtime value and the persisted file are read with every other path of the batch (one stat, one tail).
    ...sharedProbe(null, [sysctlRead(procPath(key), ''), ...(file ? [fileRead(file, 'persist.')] : [])]),
    // Offline the kernel's value is unknown: "?" never equals a wanted value.
    blank: `runtime=?\n${file ? 'persist.type=absent' : ''}`,
    parse(out) {
      const kv = new KeyValues(out.stdout);
      const err = kv.get('error');
      if (err !== undefined) throw new ModuleError('sysctl', `probe of ${key} failed: ${err}`);
      const rt = kv.get('runtime');
      if (rt === undefined && !kv.has('runtime_missing')) throw new ModuleError('sysctl', `probe of ${key} printed no runtime value`);
      const fstate = file ? parseFileState('sysctl', kv, file, 'persist.') : null;
      const persisted = fstate?.content ? persistedValue(fstate.content.toString('utf8'), key) : null;
      return { runtime: rt === undefined ? null : normalizeSysctl(rt), persisted, file: fstate };
    },
  };
}

/** sysctl -w when the tool exists (busybox/minimal images may lack it), else write /proc/sys directly. */
export function sysctlWriteStep(key: string, value: string): Step {
  return {
    kind: 'exec',
    script: sh`${SBIN_PATH}
f=${procPath(key)}
[ -e "$f" ] || { echo ${`kernel has no sysctl ${key}`} >&2; exit 1; }
if command -v sysctl >/dev/null 2>&1; then sysctl -w ${`${key}=${value}`} >/dev/null
else printf '%s\\n' ${value} > "$f"; fi`,
  };
}

/** A sysctl's drift evidence: its runtime value, words joined by spaces as the probe reads them. */
function runtimeEvidence(key: string, value: string, before: string | null): Evidence {
  return {
    what: `sysctl ${key}`,
    check: sh`cat ${procPath(key)} 2>/dev/null | tr '\\t' ' '`,
    after: `${value}\n`,
    ...(before !== null ? { before: `${before}\n` } : {}),
  };
}

export function planSysctl(key: string, value: string, file: string | false, state: SysctlState): PlannedChange[] {
  const changes: PlannedChange[] = [];
  if (state.runtime === null) {
    changes.push({
      summary: `set ${key} -> ${value} (not present in the kernel when probed; no undo)`,
      reason: `${procPath(key)} did not exist at probe time (module not loaded yet?)`,
      diff: `+${value}`,
      apply: [sysctlWriteStep(key, value)],
      before: { key, runtime: null },
      after: { key, runtime: value },
      evidence: runtimeEvidence(key, value, null),
    });
  } else if (state.runtime !== value) {
    changes.push({
      summary: `set ${key} ${state.runtime} -> ${value}`,
      reason: `runtime value differs`,
      diff: `-${state.runtime}\n+${value}`,
      apply: [sysctlWriteStep(key, value)],
      undo: [sysctlWriteStep(key, state.runtime)],
      before: { key, runtime: state.runtime },
      after: { key, runtime: value },
      evidence: runtimeEvidence(key, value, state.runtime),
    });
  }
  if (file && state.file && state.persisted !== value) {
    const line = `${key} = ${value}`;
    const planned = planLineEdit('sysctl', file, { line, regexp: keyRegexp(key), state: 'present' }, state.file, { create: true });
    for (const c of planned) {
      changes.push({
        ...c,
        summary: `persist ${line} in ${file}${state.persisted !== null ? ` (was ${state.persisted})` : ''}${c.undo ? '' : ' (no undo)'}`,
        reason: `boot-time value ${state.persisted ?? 'unset'} differs from ${value}`,
      });
    }
  }
  return changes;
}

export function sysctl(opts: SysctlOptions): Task<SysctlState> {
  const key = checkName('sysctl', 'key', opts.key, KEY_RE);
  const value = normalizeSysctl(opts.value);
  if (typeof opts.persistFile === 'string') checkPath('sysctl', opts.persistFile);
  if (value === '' || /[\n\0]/.test(String(opts.value))) throw new ModuleError('sysctl', `value for ${key} must be non-empty and single-line`);
  return {
    ...meta(`sysctl ${key} = ${value}`, opts),
    module: 'sysctl',
    probe: (ctx) => sysctlProbe(key, persistFileFor(opts, ctx)),
    footprint: (ctx) => {
      const f = persistFileFor(opts, ctx);
      return own(`sysctl:${key}`, ...(f ? [fileKey(f)] : []));
    },
    plan: (state, ctx) => planSysctl(key, value, persistFileFor(opts, ctx), state),
  };
}
