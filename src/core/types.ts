import type { Inventory } from '../inventory/types.js';
import type { Script } from './shell.js';

// The domain of the engine. Nothing here knows about LVS or about SSH internals:
// the engine talks to hosts through `Connection` and to modules through `Task`.

/** Result of one remote command. */
export interface ExecResult {
  code: number;
  /** stdout decoded as UTF-8. */
  stdout: string;
  /** stdout as the host sent it: probes carry file contents raw (execResult() makes both fields). */
  stdoutBytes: Buffer;
  stderr: string;
}

export interface ExecOptions {
  /** Bytes written to the command's stdin, then EOF. */
  stdin?: string | Buffer;
  /** Run as root through sudo when the login user is not root (the host's `become` setting decides the method). */
  become?: boolean;
  timeoutMs?: number;
}

/** One open session to one host. Implemented by the SSH layer (src/ssh). */
export interface Connection {
  /** Inventory name of the host. */
  readonly host: string;
  /** Runs `script` with /bin/sh -c on the host. Never throws for a non-zero exit; throws TransportError when the channel fails. */
  exec(script: Script, opts?: ExecOptions): Promise<ExecResult>;
  /** Copies a local file to the host over SFTP (atomically: temp name, then rename). */
  upload(localPath: string, remotePath: string, mode?: number): Promise<void>;
  close(): Promise<void>;
}

export type OsFamily = 'debian' | 'redhat' | 'unknown';
export type InitSystem = 'systemd' | 'sysv';
export type PackageManager = 'apt' | 'dnf' | 'yum' | 'up2date' | 'unknown';

export interface InterfaceFact {
  name: string;
  /** CIDR addresses, e.g. "10.0.0.5/24". */
  ipv4: string[];
  up: boolean;
}

/** What the engine knows of a host before it plans anything; gathered in one round trip. */
export interface HostFacts {
  hostname: string;
  os: { family: OsFamily; id: string; version: string; prettyName: string };
  kernel: { release: string; major: number; minor: number };
  init: InitSystem;
  packageManager: PackageManager;
  /** rpm or dpkg: what records installed packages. */
  packageDb: 'dpkg' | 'rpm' | 'unknown';
  interfaces: InterfaceFact[];
  /** Interface that carries the default route, if any. */
  defaultInterface: string | null;
  /** /proc/sys/net/ipv4/conf/all/arp_ignore exists (kernel >= 2.4.26/2.6.4 or a backport). */
  arpSysctls: boolean;
  ipvsadm: { installed: boolean; version: string | null };
  /** /proc/net/ip_vs exists or the ip_vs module can be found. */
  ipvsKernel: boolean;
  /** The user we log in as. */
  user: string;
  arch: string;
}

/** What a probe printed; the engine runs many probes in one round trip and hands each its own slice. */
export interface ProbeOutput {
  stdout: string;
  code: number;
}

/**
 * A read many probes of a host make, done once for all of them in a batch: one `stat` for every
 * file of a host instead of two processes per file. The reader prints what each key's own script
 * would print, byte for byte, so a probe's output does not depend on how it was read.
 */
export interface SharedReader {
  /** One key's own script, its lines prefixed: what a probe runs alone (a guard, a re-probe). */
  one(key: string, prefix: string): Script;
  /**
   * Reads every key (distinct, in this order) in one go; falls back on the host, never fails half-way.
   * The batch runs it in its own shell, not a subshell: it must never exit, nor leave options, the
   * directory or traps changed (its variables and functions may stay: later readers set their own).
   */
  script(keys: readonly string[]): Script;
  /**
   * Each key's lines, as its own script prints them (no prefix). Throws on output it cannot trust.
   * `bytes`: the output as sent, for readers whose script prints file contents raw (UTF-8 of `stdout` if absent).
   */
  split(stdout: string, keys: readonly string[], bytes?: Buffer): string[];
}

/** One key of a SharedReader a probe needs; its lines are prefixed with `prefix` in the probe's output. */
export interface SharedRead {
  reader: SharedReader;
  key: string;
  prefix: string;
}

/** Reads current state. `script` is POSIX sh run as root (become); `parse` turns its output into typed state. */
export interface Probe<S> {
  script: Script;
  /**
   * `script` in parts a batch may run apart: `own` (null: nothing) prints its lines first, then each
   * shared read's lines, in order. Made with sharedProbe(), which builds `script` from the same parts.
   */
  shared?: { own: Script | null; reads: readonly SharedRead[] };
  /**
   * `script` (or `shared.own`) may run in a batch's own shell instead of a subshell (a fork less):
   * it never exits, and leaves the options, the directory and the traps as it found them.
   */
  inline?: boolean;
  parse(out: ProbeOutput): S;
  /** What `script` prints on a host where none of this exists yet: lets `provision render` plan offline. */
  blank?: string;
}

/** One step of applying (or undoing) a change. */
export type Step = { kind: 'exec'; script: Script; stdin?: string | Buffer } | { kind: 'upload'; localPath: string; remotePath: string; mode?: number };

/** Drift evidence of one change: `check` (read-only) prints `after` once the change is made. */
export interface Evidence {
  /** What is checked, named for messages and to keep only a resource's last change: "/etc/mon/mon.cf content". */
  what: string;
  check: Script;
  after: string;
  /** What `check` printed before the change; absent when unknown. */
  before?: string;
  /**
   * The state may change by itself (a service's running state: a crash, a health monitor): read
   * only to tell a never-applied pending change (the host shows `before`), never reported as drift.
   */
  volatile?: true;
}

/** A typed change the engine will make (or, in check mode, would make). */
export interface PlannedChange {
  /** What changes, one line: "set net.ipv4.ip_forward 0 -> 1". */
  summary: string;
  /** Why: the desired state that differs. */
  reason?: string;
  /** Unified diff (files) or "-old/+new" lines (values). */
  diff?: string;
  apply: Step[];
  /** Steps that restore the state read by the probe (journaled for rollback). Absent = cannot be undone exactly. */
  undo?: Step[];
  /** The before-state as data, for the journal and for rollback's drift check. Must hold no secrets. */
  before: unknown;
  /** The after-state as data (what a later rollback expects to find). */
  after?: unknown;
  /**
   * What the change leaves behind, read back cheaply: rollback runs `check` before undoing and
   * refuses when its output is neither `after` nor (for a change that may not have happened) `before`.
   * The module that makes the change declares it; rollback knows no module.
   */
  evidence?: Evidence;
  /** A file this change writes, whole (lets `provision render` show every file offline). */
  writes?: { path: string; content: Buffer; mode?: string };
}

export interface TaskContext {
  host: string;
  facts: HostFacts;
  vars: Readonly<Record<string, unknown>>;
  /** Directory playbooks resolve relative controller paths (templates, artifacts) against. */
  projectDir: string;
  /** The whole inventory (other hosts' vars, validated sections such as `lvs`), when run from one. */
  inventory?: Inventory;
}

/** Resource keys a task reads (its probe) and writes (its changes); see Task.footprint and core/footprint.ts. */
export interface Footprint {
  reads: readonly string[];
  writes: readonly string[];
}

/** The module contract: probe current state, plan typed changes, the engine applies only those. */
export interface Task<S = any> {
  /** Human name shown in progress and reports. */
  name: string;
  /** Module that built it: "file", "sysctl", ... */
  module: string;
  tags?: string[];
  /** Handler names to run once at the end of the host's run when this task changed something. */
  notify?: string[];
  probe(ctx: TaskContext): Probe<S>;
  /**
   * What the probe reads and the changes may write, as resource keys ("file:/etc/mon/mon.cf",
   * "sysctl:net.ipv4.ip_forward", "ipvs", "*" = anything). After a change the engine re-probes only
   * the later tasks whose reads meet the change's writes. Absent = "*" both ways: always correct.
   */
  footprint?(ctx: TaskContext): Footprint;
  /** Pure: compare state with the desired state. [] means ok (nothing to do). */
  plan(state: S, ctx: TaskContext): PlannedChange[] | Promise<PlannedChange[]>;
  /** Status worth telling that is not a change (e.g. a real server out of service by its health check). */
  notes?(state: S, ctx: TaskContext): string[];
}

/** A named group of tasks for the hosts of one inventory pattern. */
export interface Play {
  name: string;
  /** Inventory group or host name; "all" for every host. */
  hosts: string;
  tasks(ctx: TaskContext): Task[];
  handlers?(ctx: TaskContext): Record<string, Task>;
}

export interface Playbook {
  name: string;
  description?: string;
  plays: Play[];
  /**
   * What the playbook needs of the inventory, checked before any host is contacted: each problem
   * as a sentence, [] when none (e.g. the LVS playbooks need an `lvs` section).
   */
  preflight?(inventory: Inventory): string[];
}

export type TaskStatus = 'ok' | 'changed' | 'failed' | 'skipped';

export interface TaskReport {
  task: string;
  module: string;
  status: TaskStatus;
  changes: Array<Pick<PlannedChange, 'summary' | 'reason' | 'diff'>>;
  /** Task.notes(): status, not drift. */
  notes?: string[];
  error?: string;
  durationMs: number;
}

export interface HostReport {
  host: string;
  /** Host-level failure (unreachable, auth, host key, or a configuration the host cannot take) - then `tasks` is empty. */
  error?: string;
  /** What kind of host-level failure: the host could not be reached, or it answered but cannot be configured as asked. */
  errorKind?: 'unreachable' | 'failed';
  tasks: TaskReport[];
  recap: Record<TaskStatus, number>;
  roundTrips: number;
  durationMs: number;
}

export interface RunReport {
  id: string;
  mode: 'apply' | 'check';
  inventory: string;
  playbook: string;
  startedAt: string;
  durationMs: number;
  hosts: HostReport[];
}
