// The run journal: every applied change with its before-state and exact undo steps.
// Written atomically (temp file, fsync, rename) after every change, so a run that dies
// half-way still leaves a journal of exactly what it changed.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { userInfo, hostname } from 'node:os';
import type { Connection, Evidence, Step } from './types.js';

/** Where each host keeps its own copy of the runs that changed it. */
export const HOST_RUNS_DIR = '/var/lib/provision/runs';
import { writeFileAtomic } from './atomic-file.js';
import { raw, sh, type Script } from './shell.js';
import { JournalError } from './errors.js';

export { writeFileAtomic }; // the journal's own writes are atomic; rollback marks runs with it too

/** A Step as stored: Buffers become base64 so the journal is plain JSON. */
export type JournalStep =
  | { kind: 'exec'; script: string; stdinBase64?: string /** The script held a secret: only its masked form was kept, it cannot be replayed. */; masked?: true }
  | { kind: 'upload'; localPath: string; remotePath: string; mode?: number };

export interface JournalChange {
  task: string;
  module: string;
  summary: string;
  before: unknown;
  after?: unknown;
  /** Absent when the module cannot undo this change exactly. */
  undo?: JournalStep[];
  /** The module's drift evidence (see PlannedChange.evidence), its check stored as script text. */
  evidence?: JournalEvidence;
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

export interface JournalEvidence {
  what: string;
  check: string;
  after: string;
  before?: string;
  volatile?: true;
}

/** Evidence that tells a change that ran from one that did not: a known before-state unlike its after-state. */
export const telling = (e: Evidence | undefined): e is Evidence & { before: string } => e?.before !== undefined && e.before !== e.after;

export function toJournalEvidence(e: Evidence): JournalEvidence {
  return {
    what: e.what,
    check: e.check.text,
    after: e.after,
    ...(e.before !== undefined ? { before: e.before } : {}),
    ...(e.volatile ? { volatile: true } : {}),
  };
}

export function fromJournalEvidence(e: JournalEvidence): Evidence {
  // Our own record of a read-only check built with sh``: replayed as written.
  return {
    what: e.what,
    check: raw(e.check),
    after: e.after,
    ...(e.before !== undefined ? { before: e.before } : {}),
    ...(e.volatile ? { volatile: true } : {}),
  };
}

/**
 * A change's evidence: its own, or for journals written before modules declared evidence (format
 * migration only), the two shapes those journals carried: a file's sha256, a sysctl's runtime.
 */
export function evidenceOf(change: JournalChange): Evidence | null {
  if (change.evidence) return fromJournalEvidence(change.evidence);
  const after = change.after as Record<string, unknown> | undefined;
  const before = (change.before ?? {}) as Record<string, unknown>;
  if (!after) return null;
  if (typeof after.path === 'string' && typeof after.sha256 === 'string') {
    const was = before.type === 'absent' ? '' : typeof before.sha256 === 'string' ? `${before.sha256}\n` : undefined;
    return {
      what: `${after.path} content`,
      check: sh`sha256sum < ${after.path} 2>/dev/null | cut -d' ' -f1`,
      after: `${after.sha256}\n`,
      ...(was !== undefined ? { before: was } : {}),
    };
  }
  if (typeof after.key === 'string' && typeof after.runtime === 'string') {
    const proc = `/proc/sys/${after.key.replace(/\./g, '/')}`;
    const was = typeof before.runtime === 'string' ? `${before.runtime}\n` : undefined;
    return {
      what: `sysctl ${after.key}`,
      check: sh`cat ${proc} 2>/dev/null | tr '\\t' ' '`,
      after: `${after.runtime}\n`,
      ...(was !== undefined ? { before: was } : {}),
    };
  }
  return null;
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
  return `${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

export function toJournalStep(step: Step): JournalStep {
  if (step.kind === 'upload') return { ...step };
  const { script, stdin } = step;
  // Secrets never reach the journal: a script holding one is kept masked (and cannot be replayed).
  const out: JournalStep = script.text === script.display ? { kind: 'exec', script: script.text } : { kind: 'exec', script: script.display, masked: true };
  return stdin === undefined ? out : { ...out, stdinBase64: Buffer.from(stdin).toString('base64') };
}

export function fromJournalStep(step: JournalStep): Step {
  if (step.kind === 'upload') return { ...step };
  if (step.masked) throw new JournalError(`a journaled step held a secret and was stored masked; it cannot be replayed: ${step.script}`);
  // The journal is our own record of scripts we built with sh``: replayed as written.
  const script = raw(step.script);
  return step.stdinBase64 === undefined ? { kind: 'exec', script } : { kind: 'exec', script, stdin: Buffer.from(step.stdinBase64, 'base64') };
}

/** What the engine calls as a host's changes are sent and settled (engine.ts HostRunOptions). */
export interface JournalHooks {
  onChange(change: JournalChange): void;
  onApplied(change: JournalChange): void;
  onDropped(change: JournalChange): void;
  onJournalSync(): void;
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

  /**
   * Mirrors this host's part of the journal on the host (/var/lib/provision/runs/<id>.json), so
   * another operator can see and undo it; `then` runs after it in the same round trip (the run's
   * host lock release). One round trip; returns an error text or null.
   */
  async mirrorOn(conn: Connection, host: string, then?: Script): Promise<string | null> {
    const { script, body } = this.mirrorScript(host, { after: then });
    const r = await conn.exec(script, { become: true, stdin: body });
    return r.code === 0 ? null : `journal mirror on host failed: ${r.stderr.trim()}`;
  }

  /** This host's part of the journal as mirrored; `settled`: as it will read once its pending changes are confirmed. */
  mirrorBody(host: string, settled = false): string {
    const h = this.host(host);
    const view = settled
      ? {
          ...h,
          changes: h.changes.map((c) => {
            const { pending: _, ...rest } = c;
            return rest;
          }),
        }
      : h;
    return JSON.stringify({ ...this.journal, hosts: { [host]: view } }, null, 2);
  }

  /**
   * The mirror's shell (reads the body on stdin); `then` runs after it whatever happened (the
   * lock's release), and the exit status is the mirror's.
   */
  mirrorScript(host: string, o: { settled?: boolean; after?: Script } = {}): { script: Script; body: string } {
    const body = this.mirrorBody(host, o.settled);
    const dest = `${HOST_RUNS_DIR}/${this.journal.id}.json`;
    // Durable like the controller's copy: fsync the file (sync FILE, coreutils >= 8.24; else a global sync) before the rename.
    const tmp = `${dest}.tmp`;
    const write = sh`umask 077; mkdir -p ${HOST_RUNS_DIR} && cat > ${tmp} && { sync ${tmp} 2>/dev/null || sync; } && mv -f ${tmp} ${dest}`;
    const script = o.after
      ? sh`if ${write}; then r=0; else r=1; fi
${o.after}
exit $r`
      : write;
    return { script, body };
  }

  host(name: string): JournalHost {
    return (this.journal.hosts[name] ??= { status: 'running', changes: [] });
  }

  record(hostName: string, change: JournalChange): void {
    this.add(hostName, change);
    this.flush();
  }

  /**
   * Replaces the host's pending record of `change` (the last pending one of the same task and
   * summary: a batch of changes is recorded before its script runs) with its confirmed version.
   */
  settle(hostName: string, change: JournalChange): void {
    this.confirm(hostName, change);
    this.flush();
  }

  /** Removes the pending record of a change that certainly did not run (its batch stopped before it). */
  drop(hostName: string, change: JournalChange): void {
    this.forget(hostName, change);
    this.flush();
  }

  /**
   * The engine's journal hooks for one host: the records change in memory and are written once per
   * script (onJournalSync: before it is sent, with every change of it pending, and after it), not
   * once per change — at a hundred hosts the per-change writes of the whole journal were most of
   * the controller's time.
   */
  hooks(hostName: string): JournalHooks {
    return {
      onChange: (ch) => this.add(hostName, ch),
      onApplied: (ch) => this.confirm(hostName, ch),
      onDropped: (ch) => this.forget(hostName, ch),
      onJournalSync: () => this.flush(),
    };
  }

  private add(hostName: string, change: JournalChange): void {
    this.host(hostName).changes.push(change);
  }

  private confirm(hostName: string, change: JournalChange): void {
    const changes = this.host(hostName).changes;
    const i = findPending(changes, change);
    if (i < 0) changes.push(change);
    else changes[i] = change;
  }

  private forget(hostName: string, change: JournalChange): void {
    const changes = this.host(hostName).changes;
    const i = findPending(changes, change);
    if (i >= 0) changes.splice(i, 1);
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

function findPending(changes: JournalChange[], c: JournalChange): number {
  for (let i = changes.length - 1; i >= 0; i--) {
    const x = changes[i]!;
    if (x.pending && x.task === c.task && x.summary === c.summary && x.at === c.at) return i;
  }
  return -1;
}

export function listJournals(stateDir: string): Journal[] {
  const dir = join(stateDir, 'runs');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as Journal);
}
