// The run journal: every applied change with its before-state and exact undo steps.
// Written atomically (temp file, fsync, rename) after every change, so a run that dies
// half-way still leaves a journal of exactly what it changed.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { userInfo, hostname } from 'node:os';
import type { Step } from './types.js';
import { writeFileAtomic } from './atomic-file.js';

export { writeFileAtomic }; // the journal's own writes are atomic; rollback marks runs with it too

/** A Step as stored: Buffers become base64 so the journal is plain JSON. */
export type JournalStep =
  | { kind: 'exec'; script: string; stdinBase64?: string; display?: string }
  | { kind: 'upload'; localPath: string; remotePath: string; mode?: number };

export interface JournalChange {
  task: string;
  module: string;
  summary: string;
  before: unknown;
  after?: unknown;
  /** Absent when the module cannot undo this change exactly. */
  undo?: JournalStep[];
  /** Output of the apply steps (e.g. the file list a source build installed). */
  output?: string;
  /** Handlers the task notified: a rollback runs them after undoing (mon restarted after its config is restored). */
  notify?: string[];
  /**
   * Set while the change is being applied (the journal is written ahead); still set when the run
   * died or the step failed before confirming it: the host may or may not have the change.
   */
  pending?: true;
  at: string;
}

export interface JournalHost {
  status: 'running' | 'ok' | 'failed' | 'unreachable';
  changes: JournalChange[];
  error?: string;
}

export interface Journal {
  id: string;
  kind: 'up' | 'rollback';
  /** For a rollback: the run it undid. */
  undoes?: string;
  inventory: string;
  playbook: string;
  /** The compiled playbook file, so a rollback can build the same handlers. */
  playbookFile?: string;
  user: string;
  controller: string;
  startedAt: string;
  finishedAt?: string;
  status: 'running' | 'ok' | 'failed';
  hosts: Record<string, JournalHost>;
  /** A day-two operation run as an up (drain, undrain): what it was, for `runs` and rollback. */
  operation?: string;
  /** The inventory file the operation edited (drain): rollback puts `before` back if the file still holds `after`. */
  inventoryEdit?: { file: string; before: string; after: string };
}

export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

export function toJournalStep(step: Step): JournalStep {
  if (step.kind === 'upload') return { ...step };
  const { stdin, ...rest } = step;
  return stdin === undefined ? rest : { ...rest, stdinBase64: Buffer.from(stdin).toString('base64') };
}

export function fromJournalStep(step: JournalStep): Step {
  if (step.kind === 'upload') return { ...step };
  const { stdinBase64, ...rest } = step;
  return stdinBase64 === undefined ? rest : { ...rest, stdin: Buffer.from(stdinBase64, 'base64') };
}

export class JournalWriter {
  readonly journal: Journal;
  readonly path: string;

  constructor(stateDir: string, init: Omit<Journal, 'user' | 'controller' | 'startedAt' | 'status' | 'hosts'>) {
    this.journal = {
      ...init,
      user: userInfo().username,
      controller: hostname(),
      startedAt: new Date().toISOString(),
      status: 'running',
      hosts: {},
    };
    this.path = join(stateDir, 'runs', `${init.id}.json`);
  }

  host(name: string): JournalHost {
    return (this.journal.hosts[name] ??= { status: 'running', changes: [] });
  }

  record(hostName: string, change: JournalChange): void {
    this.host(hostName).changes.push(change);
    this.flush();
  }

  /** Replaces the host's last (pending) change with its confirmed version. */
  settle(hostName: string, change: JournalChange): void {
    const changes = this.host(hostName).changes;
    changes[changes.length - 1] = change;
    this.flush();
  }

  finishHost(hostName: string, status: JournalHost['status'], error?: string): void {
    const h = this.host(hostName);
    h.status = status;
    if (error) h.error = error;
    this.flush();
  }

  finish(status: Journal['status']): void {
    this.journal.status = status;
    this.journal.finishedAt = new Date().toISOString();
    this.flush();
  }

  flush(): void {
    writeFileAtomic(this.path, `${JSON.stringify(this.journal, null, 2)}\n`);
  }
}

export function listJournals(stateDir: string): Journal[] {
  const dir = join(stateDir, 'runs');
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  return names
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as Journal);
}
