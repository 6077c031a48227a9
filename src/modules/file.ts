// file: a regular file's content, mode and ownership. Its probe, plan and atomic write are
// reused by template, lineInFile, sysctl (persisted line) and kernelModule (persist file).
import { fileKey, own } from '../core/footprint.js';
import { isUtf8 } from 'node:buffer';
import { createTwoFilesPatch } from 'diff';
import type { Evidence, PlannedChange, Probe, Step, Task, TaskContext } from '../core/types.js';
import { Script, raw, sh } from '../core/shell.js';
import { ModuleError } from './errors.js';
import { CONTENT_LIMIT } from './file-read.js';
import { fileReads } from './path-read.js';

export { CONTENT_LIMIT, fileProbeScript } from './file-read.js';
import { KeyValues, checkMode, checkOwner, checkPath, meta, sha256, short, type TaskMeta } from './util.js';

export type FileType = 'absent' | 'file' | 'directory' | 'symlink' | 'other';

export interface FileState {
  path: string;
  type: FileType;
  /** Canonical 4-digit octal, e.g. "0644". */
  mode?: string;
  uid?: number;
  gid?: number;
  owner?: string;
  group?: string;
  size?: number;
  sha256?: string | null;
  /** Undefined when the file is larger than CONTENT_LIMIT. */
  content?: Buffer;
}

/** Desired attributes; undefined means "leave as found" (new files: mode 0644, owned by root). */
export interface FileAttrs {
  mode?: string;
  owner?: string;
  group?: string;
}

export interface DesiredFile extends FileAttrs {
  path: string;
  content: Buffer;
  /** Keep content out of diffs, before/after data and undo steps. */
  secret?: boolean;
}

export const DEFAULT_FILE_MODE = '0644';

export function parseFileState(module: string, kv: KeyValues, path: string, prefix = ''): FileState {
  const err = kv.get(`${prefix}error`);
  if (err !== undefined) throw new ModuleError(module, `probe of ${path} failed: ${err}`);
  const type = kv.get(`${prefix}type`);
  if (type === undefined) throw new ModuleError(module, `probe of ${path} printed no state`);
  if (type !== 'file') {
    if (!['absent', 'directory', 'symlink', 'other'].includes(type)) throw new ModuleError(module, `probe of ${path}: unknown type ${type}`);
    return { path, type: type as FileType };
  }
  const st = (kv.get(`${prefix}stat`) ?? '').split(' ');
  if (st.length < 6 || !/^[0-7]+$/.test(st[0]!))
    throw new ModuleError(module, `probe of ${path}: unparseable stat line ${JSON.stringify(kv.get(`${prefix}stat`))}`);
  const [modeS, uidS, gidS, sizeS, owner, group] = st as [string, string, string, string, string, string];
  let content: Buffer | undefined;
  const b64 = kv.get(`${prefix}b64`);
  const hex = kv.get(`${prefix}hex`);
  if (b64 !== undefined) content = Buffer.from(b64, 'base64');
  else if (hex !== undefined) content = Buffer.from(hex, 'hex');
  const size = Number(sizeS);
  if (content && content.length !== size) throw new ModuleError(module, `probe of ${path}: read ${content.length} bytes, stat says ${size}`);
  return {
    path,
    type: 'file',
    mode: modeS.padStart(4, '0'),
    uid: Number(uidS),
    gid: Number(gidS),
    owner,
    group,
    size,
    sha256: content ? sha256(content) : kv.get(`${prefix}sha256`) || null,
    ...(content ? { content } : {}),
  };
}

export function fileProbe(module: string, path: string): Probe<FileState> {
  return {
    ...fileReads(null, [{ path, prefix: '' }]),
    blank: 'type=absent',
    parse: (out) => parseFileState(module, new KeyValues(out.stdout), path),
  };
}

function chownSpec(owner: string | undefined, group: string | undefined): string | undefined {
  if (owner !== undefined && group !== undefined) return `${owner}:${group}`;
  return owner;
}

/** Ownership then mode: chown clears setuid bits, so chmod must come last. */
function attrCommands(target: string | Script, a: FileAttrs): Script[] {
  const cmds: Script[] = [];
  const spec = chownSpec(a.owner, a.group);
  if (spec !== undefined) cmds.push(sh`chown ${spec} ${target}`);
  else if (a.group !== undefined) cmds.push(sh`chgrp ${a.group} ${target}`);
  if (a.mode !== undefined) cmds.push(sh`chmod ${a.mode} ${target}`);
  return cmds;
}

/**
 * One exec step that writes stdin to `path` atomically: temp file in the same directory,
 * attributes set on the temp file, then rename over the target. Every program counts (a file
 * written by `dirname`, `mktemp`, `cat`, `chown`, `chmod` and `mv` took ~45 ms of a lab host's
 * CPU): the directory comes from the path itself, and the temp file is made by the shell, 0600 as
 * mktemp makes it, exclusively (noclobber: O_EXCL, so no symlink or earlier file is followed;
 * `mktemp` when the name is taken; `true`, not `:`, whose failed redirection would end dash).
 * The mode is always set by chmod, last (chown clears setuid bits; a directory's default ACL would
 * override a umask).
 */
export function atomicWriteStep(path: string, content: Buffer, attrs: FileAttrs & { mode: string }): Step {
  const tmp = raw('"$tmp"');
  const chain = Script.join([raw('cat > "$tmp"'), ...attrCommands(tmp, attrs), raw('mv -f "$tmp" "$p"')], ' && ');
  const script = sh`p=${path}
d=\${p%/*}; d=\${d:-/}
[ -d "$d" ] || { echo "provision: directory $d does not exist" >&2; exit 1; }
umask 077
tmp=$d/.provision.$$
set -C
if ! { true > "$tmp"; } 2>/dev/null; then tmp=$(mktemp "$d/.provision.XXXXXX") || exit 1; fi
set +C
if ${chain}; then exit 0; fi
rm -f "$tmp"
exit 1`;
  // Content (a secret too) travels on stdin only: the script shows the path, never the content.
  return { kind: 'exec', script, stdin: content };
}

export function removeFileStep(path: string): Step {
  return { kind: 'exec', script: sh`rm -f ${path}` };
}

function textOf(b: Buffer): string | undefined {
  return isUtf8(b) && !b.includes(0) ? b.toString('utf8') : undefined;
}

function contentDiff(path: string, old: Buffer | undefined, oldSha: string | null | undefined, next: Buffer): string {
  const newSha = sha256(next);
  if (old === undefined) return `content differs (sha256 ${short(oldSha)} -> ${short(newSha)}; previous content larger than ${CONTENT_LIMIT} bytes, not shown)`;
  const a = textOf(old);
  const b = textOf(next);
  if (a === undefined || b === undefined) return `binary content differs (sha256 ${short(oldSha)} -> ${short(newSha)})`;
  return createTwoFilesPatch(path, path, a, b);
}

function ownerMatches(wantName: string | undefined, name: string | undefined, id: number | undefined): boolean {
  return wantName === undefined || wantName === name || wantName === String(id);
}

function describeAttrs(a: FileAttrs): string {
  const who = a.owner || a.group ? `, ${a.owner ?? '-'}:${a.group ?? '-'}` : '';
  return `mode ${a.mode ?? DEFAULT_FILE_MODE}${who}`;
}

/** Before-state as journal data: never the content, only its hash. */
export function fileBefore(state: FileState): Record<string, unknown> {
  if (state.type !== 'file') return { path: state.path, exists: state.type !== 'absent', type: state.type };
  return {
    path: state.path,
    exists: true,
    type: 'file',
    mode: state.mode,
    owner: state.owner,
    group: state.group,
    uid: state.uid,
    gid: state.gid,
    size: state.size,
    sha256: state.sha256,
  };
}

/** A file's drift evidence: its sha256 as the host computes it (before: '' when it did not exist). */
export function fileEvidence(path: string, newSha: string, state: FileState): Evidence {
  const before = state.type === 'absent' ? '' : state.sha256 ? `${state.sha256}\n` : undefined;
  return {
    what: `${path} content`,
    check: sh`sha256sum < ${path} 2>/dev/null | cut -d' ' -f1`,
    after: `${newSha}\n`,
    ...(before !== undefined ? { before } : {}),
  };
}

/** Pure: compare the probed file with the wanted one. [] when equal. */
export function planFile(module: string, want: DesiredFile, state: FileState): PlannedChange[] {
  const path = want.path;
  if (state.type !== 'file' && state.type !== 'absent') {
    throw new ModuleError(module, `${path} is a ${state.type}, not a regular file; refusing to replace it`);
  }
  const newSha = sha256(want.content);
  const secret = want.secret === true;
  const secretNote = secret ? ' (secret: content not shown)' : '';
  const after = (a: FileAttrs): Record<string, unknown> => ({
    path,
    exists: true,
    type: 'file',
    mode: a.mode,
    owner: a.owner,
    group: a.group,
    size: want.content.length,
    sha256: newSha,
  });

  if (state.type === 'absent') {
    const attrs = { mode: want.mode ?? DEFAULT_FILE_MODE, owner: want.owner, group: want.group };
    return [
      {
        summary: `create ${path} (${want.content.length} bytes, ${describeAttrs(attrs)})${secretNote}`,
        reason: `${path} does not exist`,
        ...(secret ? {} : { diff: contentDiff(path, Buffer.alloc(0), sha256(''), want.content) }),
        apply: [atomicWriteStep(path, want.content, attrs)],
        undo: [removeFileStep(path)],
        ...(secret ? {} : { writes: { path, content: want.content, mode: attrs.mode } }),
        before: fileBefore(state),
        after: after(attrs),
        evidence: fileEvidence(path, newSha, state),
      },
    ];
  }

  const contentSame = state.content !== undefined ? state.content.equals(want.content) : state.sha256 === newSha;
  const modeDiff = want.mode !== undefined && want.mode !== state.mode;
  const ownerDiff = !ownerMatches(want.owner, state.owner, state.uid);
  const groupDiff = !ownerMatches(want.group, state.group, state.gid);
  if (contentSame && !modeDiff && !ownerDiff && !groupDiff) return [];

  const parts: string[] = [];
  if (!contentSame) parts.push(`content (sha256 ${short(state.sha256)} -> ${short(newSha)})`);
  if (modeDiff) parts.push(`mode ${state.mode} -> ${want.mode}`);
  if (ownerDiff) parts.push(`owner ${state.owner} -> ${want.owner}`);
  if (groupDiff) parts.push(`group ${state.group} -> ${want.group}`);
  // Undo puts back numeric ids: exact even when a name has no passwd entry.
  const oldAttrs = { mode: state.mode!, owner: String(state.uid), group: String(state.gid) };
  const final = { mode: want.mode ?? state.mode!, owner: want.owner ?? state.owner, group: want.group ?? state.group };
  const valueDiff = [
    ...(modeDiff ? [`-mode ${state.mode}`, `+mode ${want.mode}`] : []),
    ...(ownerDiff || groupDiff ? [`-owner ${state.owner}:${state.group}`, `+owner ${final.owner}:${final.group}`] : []),
  ].join('\n');

  if (!contentSame) {
    let undo: Step[] | undefined;
    let undoNote = '';
    if (secret) undoNote = '; no undo: secret content is not journaled';
    else if (state.content === undefined) undoNote = `; no undo: previous content larger than ${CONTENT_LIMIT} bytes was not captured`;
    else undo = [atomicWriteStep(path, state.content, oldAttrs)];
    // Write with the final numeric-or-named ids: keep what was there when not managed.
    const writeAttrs = { mode: final.mode, owner: want.owner ?? String(state.uid), group: want.group ?? String(state.gid) };
    const diff = secret ? undefined : [contentDiff(path, state.content, state.sha256, want.content), valueDiff].filter(Boolean).join('\n');
    return [
      {
        summary: `update ${path}: ${parts.join(', ')}${secretNote}${undoNote}`,
        reason: `${path} differs from the wanted ${module === 'file' ? 'content' : module}`,
        ...(diff ? { diff } : {}),
        apply: [atomicWriteStep(path, want.content, writeAttrs)],
        ...(undo ? { undo } : {}),
        ...(secret ? {} : { writes: { path, content: want.content, mode: writeAttrs.mode } }),
        before: fileBefore(state),
        after: after(final),
        evidence: fileEvidence(path, newSha, state),
      },
    ];
  }

  const target = path;
  const applyAttrs: FileAttrs = {
    ...(ownerDiff ? { owner: want.owner } : {}),
    ...(groupDiff ? { group: want.group } : {}),
    // After a chown the mode is re-applied: chown may have dropped setuid/setgid bits.
    ...(modeDiff || ownerDiff || groupDiff ? { mode: final.mode } : {}),
  };
  const undoAttrs: FileAttrs = {
    ...(ownerDiff || groupDiff ? { owner: oldAttrs.owner, group: oldAttrs.group } : {}),
    mode: oldAttrs.mode,
  };
  return [
    {
      summary: `set ${path} ${parts.join(', ')}`,
      reason: `${path} attributes differ`,
      diff: valueDiff,
      apply: [{ kind: 'exec', script: Script.join(attrCommands(target, applyAttrs), ' && ') }],
      undo: [{ kind: 'exec', script: Script.join(attrCommands(target, undoAttrs), ' && ') }],
      before: fileBefore(state),
      after: after(final),
      evidence: fileEvidence(path, newSha, state),
    },
  ];
}

export interface ManagedFileSpec extends TaskMeta, FileAttrs {
  path: string;
  secret?: boolean;
}

/** Validated copy of the attribute options. */
export function checkAttrs(module: string, a: FileAttrs): FileAttrs {
  const mode = checkMode(module, a.mode);
  const owner = checkOwner(module, 'owner', a.owner);
  const group = checkOwner(module, 'group', a.group);
  return { ...(mode ? { mode } : {}), ...(owner ? { owner } : {}), ...(group ? { group } : {}) };
}

export function toBuffer(content: string | Buffer): Buffer {
  return typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
}

/**
 * A Task managing one whole file whose content is computed at plan time (file, template).
 * `render` may read controller files; errors it throws fail the task before anything is applied.
 */
export function contentTask(module: string, spec: ManagedFileSpec, render: (ctx: TaskContext) => Buffer | Promise<Buffer>): Task<FileState> {
  const path = checkPath(module, spec.path);
  const attrs = checkAttrs(module, spec);
  return {
    ...meta(`${module} ${path}`, spec),
    module,
    probe: () => fileProbe(module, path),
    footprint: () => own(fileKey(path)),
    async plan(state, ctx) {
      const content = await render(ctx);
      return planFile(module, { path, content, ...attrs, ...(spec.secret ? { secret: true } : {}) }, state);
    },
  };
}

export interface FileOptions extends ManagedFileSpec {
  content: string | Buffer;
}

/** A file with exactly `content`, atomically written; mode/owner/group enforced when given. */
export function file(opts: FileOptions): Task<FileState> {
  const content = toBuffer(opts.content);
  return contentTask('file', opts, () => content);
}
