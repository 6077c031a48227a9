// directory: a directory exists with the given mode/ownership. Undo removes only what it created.
import { fileKey, own } from '../core/footprint.js';
import type { PlannedChange, Probe, Step, Task } from '../core/types.js';
import { Script, raw, sh } from '../core/shell.js';
import { ModuleError } from './errors.js';
import { sharedProbe } from '../core/batch.js';
import { dirRead } from './path-read.js';
import { checkAttrs, type FileAttrs } from './file.js';
import { KeyValues, checkPath, meta, type TaskMeta } from './util.js';

export interface DirectoryOptions extends TaskMeta, FileAttrs {
  path: string;
}

export interface DirectoryState {
  path: string;
  type: 'absent' | 'directory' | 'other';
  mode?: string;
  uid?: number;
  gid?: number;
  owner?: string;
  group?: string;
  /** When absent: the missing path components, deepest first (what mkdir -p will create). */
  missing: string[];
}

export const DEFAULT_DIR_MODE = '0755';

export function directoryProbe(path: string): Probe<DirectoryState> {
  return {
    // Read with every other path of the batch (one stat -L for all).
    ...sharedProbe(null, [dirRead(path, '')]),
    blank: `type=absent\nmissing=${path}`,
    parse(out) {
      const kv = new KeyValues(out.stdout);
      const err = kv.get('error');
      if (err !== undefined) throw new ModuleError('directory', `probe of ${path} failed: ${err}`);
      const type = kv.get('type');
      if (type === 'absent') return { path, type, missing: kv.all('missing') };
      if (type === 'other') return { path, type, missing: [] };
      if (type !== 'directory') throw new ModuleError('directory', `probe of ${path} printed no state`);
      const st = (kv.get('stat') ?? '').split(' ');
      if (st.length < 5 || !/^[0-7]+$/.test(st[0]!)) throw new ModuleError('directory', `probe of ${path}: unparseable stat line`);
      return { path, type, mode: st[0]!.padStart(4, '0'), uid: Number(st[1]), gid: Number(st[2]), owner: st[3]!, group: st[4]!, missing: [] };
    },
  };
}

function attrScript(target: string, a: FileAttrs): Script {
  const cmds: Script[] = [];
  if (a.owner !== undefined) cmds.push(sh`chown ${a.group !== undefined ? `${a.owner}:${a.group}` : a.owner} ${target}`);
  else if (a.group !== undefined) cmds.push(sh`chgrp ${a.group} ${target}`);
  if (a.mode !== undefined) cmds.push(sh`chmod ${a.mode} ${target}`);
  return Script.join(cmds, ' && ');
}

export function planDirectory(want: FileAttrs & { path: string }, state: DirectoryState): PlannedChange[] {
  const path = want.path;
  const t = path;
  if (state.type === 'other') throw new ModuleError('directory', `${path} exists and is not a directory`);
  if (state.type === 'absent') {
    const mode = want.mode ?? DEFAULT_DIR_MODE;
    // rmdir, deepest first: fails loudly (instead of deleting) if something was put inside since.
    const undo: Step[] = [
      {
        kind: 'exec',
        script: state.missing.length
          ? Script.join(
              state.missing.map((d) => sh`rmdir ${d}`),
              ' && ',
            )
          : raw('true'),
      },
    ];
    return [
      {
        summary: `create directory ${path} (mode ${mode}${want.owner || want.group ? `, ${want.owner ?? '-'}:${want.group ?? '-'}` : ''})`,
        reason: `${path} does not exist`,
        apply: [{ kind: 'exec', script: sh`mkdir -p ${t} && ${attrScript(t, { ...want, mode })}` }],
        undo,
        before: { path, exists: false, created: state.missing },
        after: { path, exists: true, mode, owner: want.owner, group: want.group },
        // Tells rollback a pending create that never ran (its rmdir would fail on a missing directory).
        evidence: {
          what: `${path} directory`,
          check: sh`if [ -d ${t} ]; then echo directory; else echo absent; fi`,
          before: 'absent\n',
          after: 'directory\n',
        },
      },
    ];
  }
  const modeDiff = want.mode !== undefined && want.mode !== state.mode;
  const ownerDiff = want.owner !== undefined && want.owner !== state.owner && want.owner !== String(state.uid);
  const groupDiff = want.group !== undefined && want.group !== state.group && want.group !== String(state.gid);
  if (!modeDiff && !ownerDiff && !groupDiff) return [];
  const parts = [
    ...(modeDiff ? [`mode ${state.mode} -> ${want.mode}`] : []),
    ...(ownerDiff ? [`owner ${state.owner} -> ${want.owner}`] : []),
    ...(groupDiff ? [`group ${state.group} -> ${want.group}`] : []),
  ];
  const finalMode = want.mode ?? state.mode!;
  return [
    {
      summary: `set directory ${path} ${parts.join(', ')}`,
      reason: `${path} attributes differ`,
      diff: parts.map((p) => p.replace(/^(\w+) (\S+) -> (\S+)$/, '-$1 $2\n+$1 $3')).join('\n'),
      apply: [
        { kind: 'exec', script: attrScript(t, { ...(ownerDiff ? { owner: want.owner } : {}), ...(groupDiff ? { group: want.group } : {}), mode: finalMode }) },
      ],
      undo: [
        {
          kind: 'exec',
          script: attrScript(t, { ...(ownerDiff || groupDiff ? { owner: String(state.uid), group: String(state.gid) } : {}), mode: state.mode! }),
        },
      ],
      before: { path, exists: true, mode: state.mode, owner: state.owner, group: state.group, uid: state.uid, gid: state.gid },
      after: { path, exists: true, mode: finalMode, owner: want.owner ?? state.owner, group: want.group ?? state.group },
    },
  ];
}

export function directory(opts: DirectoryOptions): Task<DirectoryState> {
  const path = checkPath('directory', opts.path);
  const attrs = checkAttrs('directory', opts);
  return {
    ...meta(`directory ${path}`, opts),
    module: 'directory',
    probe: () => directoryProbe(path),
    footprint: () => own(fileKey(path)),
    plan: (state) => planDirectory({ path, ...attrs }, state),
  };
}
