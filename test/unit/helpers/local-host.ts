// Test harness for module scripts: runs a Probe or Steps with the local /bin/sh, the way the engine
// runs them on a host (probe in its own subshell, exec step = `sh -c script` with stdin, upload =
// atomic copy), so tests execute the generated shell for real; localConnection lets the engine
// itself run on this machine's sh (the SSH layer has its own tests in test/ssh).
import { spawn } from 'node:child_process';
import { copyFile, chmod, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection, ExecResult, HostFacts, Probe, Step, Task, TaskContext, PlannedChange } from '../../../src/core/types.js';
import { execResult } from '../../../src/core/host-output.js';

export class LocalStepError extends Error {
  constructor(
    readonly script: string,
    readonly result: ExecResult,
  ) {
    super(`local step exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
}

export interface LocalShOptions {
  stdin?: string | Buffer;
  /** Extra environment (e.g. a PATH with fake tools first). */
  env?: NodeJS.ProcessEnv;
}

export function sh(script: string, opts: LocalShOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', script], { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    // As a connection does: the bytes as sent too (file contents travel raw in a probe's output).
    child.on('close', (code) => resolve(execResult(code ?? -1, Buffer.concat(out), Buffer.concat(err).toString('utf8'))));
    child.stdin.on('error', () => {
      /* script may exit before reading stdin */
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

/** A Connection whose "host" is this machine's /bin/sh. */
export const localConnection: Connection = {
  host: 'local',
  exec: (script, opts) => sh(script.text, { stdin: opts?.stdin }),
  async upload(local, remote) {
    await copyFile(local, `${remote}.tmp`);
    await rename(`${remote}.tmp`, remote);
  },
  async close() {},
};

/**
 * localConnection with a hook on every exec's result (n counts execs from 1): the hook returns
 * what the engine gets (e.g. output cut short) or throws (a connection lost). The script has run either way.
 */
export function localConnectionWith(afterExec: (result: ExecResult, n: number) => ExecResult): Connection {
  let execs = 0;
  return {
    ...localConnection,
    async exec(script, opts) {
      const n = ++execs;
      return afterExec(await localConnection.exec(script, opts), n);
    },
  };
}

/** Runs a probe like the engine: `( script )`, stderr discarded, parse({stdout, code}). */
export async function runProbe<S>(probe: Probe<S>, opts: LocalShOptions = {}): Promise<S> {
  const r = await sh(`( ${probe.script.text}\n)`, opts);
  return probe.parse({ stdout: r.stdout, code: r.code });
}

/** Runs steps in order; throws LocalStepError on the first non-zero exit. Returns each exec result. */
export async function runSteps(steps: Step[], opts: LocalShOptions = {}): Promise<ExecResult[]> {
  const results: ExecResult[] = [];
  for (const step of steps) {
    if (step.kind === 'upload') {
      const tmp = `${step.remotePath}.upload-tmp`;
      await copyFile(step.localPath, tmp);
      if (step.mode !== undefined) await chmod(tmp, step.mode);
      await rename(tmp, step.remotePath);
      continue;
    }
    const r = await sh(step.script.text, { ...opts, ...(step.stdin !== undefined ? { stdin: step.stdin } : {}) });
    if (r.code !== 0) throw new LocalStepError(step.script.text, r);
    results.push(r);
  }
  return results;
}

/** probe → plan for a task on this machine. */
export async function planLocally<S>(task: Task<S>, ctx: TaskContext, opts: LocalShOptions = {}): Promise<PlannedChange[]> {
  const state = await runProbe(task.probe(ctx), opts);
  return task.plan(state, ctx);
}

/** Applies every planned change; returns the undo steps in rollback order (last change first). */
export async function applyAll(changes: PlannedChange[], opts: LocalShOptions = {}): Promise<Step[]> {
  for (const c of changes) await runSteps(c.apply, opts);
  return changes
    .slice()
    .reverse()
    .flatMap((c) => {
      if (!c.undo) throw new Error(`change has no undo: ${c.summary}`);
      return c.undo;
    });
}

export function testFacts(over: Partial<HostFacts> = {}): HostFacts {
  return {
    hostname: 'test',
    os: { family: 'debian', id: 'debian', version: '12', prettyName: 'Debian GNU/Linux 12' },
    kernel: { release: '6.1.0', major: 6, minor: 1 },
    init: 'systemd',
    packageManager: 'apt',
    packageDb: 'dpkg',
    interfaces: [],
    defaultInterface: null,
    arpSysctls: true,
    ipvsadm: { installed: false, version: null },
    ipvsKernel: true,
    user: 'root',
    arch: 'x86_64',
    ...over,
  };
}

export function testContext(over: Partial<TaskContext> = {}, facts: Partial<HostFacts> = {}): TaskContext {
  return { host: 'testhost', facts: testFacts(facts), vars: {}, projectDir: process.cwd(), ...over };
}

/** A fresh temp directory; call the returned cleanup in after(). */
export async function tempDir(prefix = 'provision-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
