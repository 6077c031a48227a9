// Inventory errors name the file, line, column, the path of the bad value and the value itself,
// so an operator can go straight to the line to fix.
import { relative, isAbsolute } from 'node:path';
import { EXIT, ProvisionError } from '../core/provision-error.js';

export type DataPath = (string | number)[];

/** A problem found before the position is known (validators work on data, not text). */
export interface RawIssue {
  path: DataPath;
  /** The offending value; undefined when it is missing or must not be echoed (secrets). */
  value?: unknown;
  /** Completes "<path>: <value> ...", e.g. "is not an IPv4 address". */
  message: string;
  /** Point at the key rather than its value (unknown keys). */
  atKey?: boolean;
  /** Shown instead of the path when the value did not come from the file ("-e ansible_port", "--limit"); '' shows nothing. */
  label?: string;
}

export interface InventoryIssue extends RawIssue {
  /** Absolute path of the inventory file. */
  file: string;
  /** 1-based; absent when the value did not come from the file. */
  line?: number;
  column?: number;
}

/** all.vars.lvs.services[0].vip */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out || '(document)';
}

/** A short, single-line rendering of a value for messages. */
export function formatValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function displayFile(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

export function formatIssue(issue: InventoryIssue): string {
  const where = issue.line !== undefined ? `${displayFile(issue.file)}:${issue.line}:${issue.column ?? 1}` : displayFile(issue.file);
  const what = issue.label ?? formatPath(issue.path);
  const value = issue.value !== undefined ? `${formatValue(issue.value)} ` : '';
  return `${where}: ${what ? `${what}: ` : ''}${value}${issue.message}`;
}

/** Every problem of one inventory; the first one's location is also on the error itself. */
export class InventoryError extends ProvisionError {
  readonly exitCode = EXIT.usage;
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  readonly value?: unknown;
  readonly path: DataPath;
  readonly issues: InventoryIssue[];

  constructor(issues: InventoryIssue[]) {
    if (issues.length === 0) throw new TypeError('InventoryError needs at least one issue');
    super(issues.map(formatIssue).join('\n'));
    const first = issues[0]!;
    this.file = first.file;
    this.line = first.line;
    this.column = first.column;
    this.value = first.value;
    this.path = first.path;
    this.issues = issues;
  }
}
