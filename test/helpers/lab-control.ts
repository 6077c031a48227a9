// Test-only controls of a lab: sabotage or inspect a host without SSH, stop and start its sshd,
// read its state. The product never does this to a lab host; tests need it to cause faults.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecResult } from '../../src/core/types.js';
import { DEFAULT_BASE_DIR, driverFor, labDir, LabNotFoundError, type LabState } from '../../src/lab/index.js';
import { readState } from '../../src/lab/state.js';

export async function labState(name: string, baseDir?: string): Promise<LabState> {
  const dir = labDir(name, baseDir);
  const state = await readState(dir);
  if (!state) throw new LabNotFoundError(`no lab ${name} in ${dir}`, { lab: name, path: dir });
  return state;
}

/** Runs `cmd` (sh -c) as root inside a lab host without SSH. Never throws for a non-zero exit. */
export async function labHostExec(name: string, host: string, cmd: string, baseDir?: string): Promise<ExecResult> {
  const dir = labDir(name, baseDir);
  return (await driverFor(dir)).hostExec(dir, host, cmd);
}

/** Stops sshd on one host (the host keeps running); resolves once its port refuses connections. */
export async function labStopHost(name: string, host: string, baseDir?: string): Promise<void> {
  const dir = labDir(name, baseDir);
  await (await driverFor(dir)).stopHost(dir, host);
}

/** Starts sshd on one host again; resolves once it presents its banner. */
export async function labStartHost(name: string, host: string, baseDir?: string): Promise<void> {
  const dir = labDir(name, baseDir);
  await (await driverFor(dir)).startHost(dir, host);
}

/** Names of the labs under `baseDir` (dirs holding a state.json). */
export async function labList(baseDir = DEFAULT_BASE_DIR): Promise<string[]> {
  const entries = await readdir(baseDir, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) if (e.isDirectory() && (await readState(join(baseDir, e.name)).catch(() => null))) out.push(e.name);
  return out.sort();
}
