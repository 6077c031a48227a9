// lineInFile: one line present (replacing the last line a regexp matches) or absent.
// The new content is computed on the controller from the probed content, then written like `file`.
import { fileKey, own } from '../core/footprint.js';
import type { PlannedChange, Task } from '../core/types.js';
import { ModuleError } from './errors.js';
import { checkAttrs, fileProbe, planFile, type FileAttrs, type FileState } from './file.js';
import { checkPath, meta, type TaskMeta } from './util.js';

export interface LineInFileOptions extends TaskMeta, FileAttrs {
  path: string;
  line: string;
  /** Lines to replace (present: the last match) or remove (absent). JS regexp, tested per line. */
  regexp?: string | RegExp;
  state?: 'present' | 'absent';
  /** Create the file when it is missing (state present). Default false: a missing file is an error. */
  create?: boolean;
}

export interface LineEdit {
  line: string;
  regexp?: RegExp;
  state: 'present' | 'absent';
}

/** Per-line regexp without g/y flags (those make .test() stateful). */
export function lineRegexp(module: string, r: string | RegExp | undefined): RegExp | undefined {
  if (r === undefined) return undefined;
  try {
    return typeof r === 'string' ? new RegExp(r) : new RegExp(r.source, r.flags.replace(/[gy]/g, ''));
  } catch (e) {
    throw new ModuleError(module, `invalid regexp ${String(r)}: ${(e as Error).message}`);
  }
}

/** Pure: the text after the edit (identical string when nothing changes). */
export function editLines(text: string, edit: LineEdit): string {
  const endsNl = text.endsWith('\n');
  const lines = text === '' ? [] : (endsNl ? text.slice(0, -1) : text).split('\n');
  const matches = (l: string): boolean => (edit.regexp ? edit.regexp.test(l) : l === edit.line);
  if (edit.state === 'absent') {
    const kept = lines.filter((l) => !matches(l));
    if (kept.length === lines.length) return text;
    return kept.length === 0 ? '' : kept.join('\n') + '\n';
  }
  let idx = -1;
  if (edit.regexp)
    for (let i = lines.length - 1; i >= 0; i--)
      if (edit.regexp.test(lines[i]!)) {
        idx = i;
        break;
      }
  if (idx >= 0) {
    if (lines[idx] === edit.line) return text;
    lines[idx] = edit.line;
    return lines.join('\n') + (endsNl ? '\n' : '');
  }
  if (lines.includes(edit.line)) return text;
  lines.push(edit.line);
  return lines.join('\n') + '\n';
}

/** Plans the edit of a probed file; shared by lineInFile, sysctl and kernelModule. */
export function planLineEdit(module: string, path: string, edit: LineEdit, state: FileState, opts: FileAttrs & { create?: boolean }): PlannedChange[] {
  if (state.type === 'absent') {
    if (edit.state === 'absent') return [];
    if (!opts.create) throw new ModuleError(module, `${path} does not exist (set create: true to create it)`);
    return planFile(module, { path, content: Buffer.from(editLines('', edit), 'utf8'), ...opts }, state);
  }
  if (state.type !== 'file') throw new ModuleError(module, `${path} is a ${state.type}, not a regular file`);
  if (state.content === undefined) throw new ModuleError(module, `${path} is larger than the probe reads (${state.size} bytes); cannot edit lines`);
  const old = state.content.toString('utf8');
  const next = editLines(old, edit);
  const attrs: FileAttrs = {
    ...(opts.mode ? { mode: opts.mode } : {}),
    ...(opts.owner ? { owner: opts.owner } : {}),
    ...(opts.group ? { group: opts.group } : {}),
  };
  const content = next === old ? state.content : Buffer.from(next, 'utf8');
  return planFile(module, { path, content, ...attrs }, state);
}

export function lineInFile(opts: LineInFileOptions): Task<FileState> {
  const path = checkPath('lineInFile', opts.path);
  if (opts.line.includes('\n')) throw new ModuleError('lineInFile', 'line must not contain a newline');
  const attrs = checkAttrs('lineInFile', opts);
  const regexp = lineRegexp('lineInFile', opts.regexp);
  const edit: LineEdit = { line: opts.line, state: opts.state ?? 'present', ...(regexp ? { regexp } : {}) };
  return {
    ...meta(`lineInFile ${path}`, opts),
    module: 'lineInFile',
    probe: () => fileProbe('lineInFile', path),
    footprint: () => own(fileKey(path)),
    plan: (state) => planLineEdit('lineInFile', path, edit, state, { ...attrs, create: opts.create ?? false }),
  };
}
