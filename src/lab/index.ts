// Public face of the lab: named labs under a base dir, driven by a LabDriver.
import { join, resolve } from 'node:path';
import { ContainerDriver, type ContainerDriverOptions } from './container.js';
import type { LabDriver, LabDriverName, LabHostSpec, LabStatus } from './driver.js';
import { LabError, LabUnsupportedError } from './errors.js';
import { writeLabInventory } from './inventory.js';
import { readState } from './state.js';
import { vmDriver } from './vm/driver.js';

export type { LabDriver, LabHostSpec, LabSpec, LabState, LabStatus, LabHostStatus } from './driver.js';
export { LabError, LabCommandError, LabNotFoundError, LabTimeoutError, LabUnsupportedError } from './errors.js';

import { defaultLabBaseDir } from './base-dir.js';

export { defaultLabBaseDir } from './base-dir.js';

/** Where labs live unless told (read once at start; see base-dir.ts): the user's state dir or $PROVISION_LAB_DIR. */
export const DEFAULT_BASE_DIR = defaultLabBaseDir();

const LAB_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface LabUpOptions {
  name?: string;
  /** A count (hosts h1..hN in group "lab") or explicit hosts. */
  hosts?: number | LabHostSpec[];
  driver?: LabDriverName;
  baseDir?: string;
  /** Driver tuning (image spec, concurrency, logging). */
  driverOptions?: ContainerDriverOptions;
}

export interface LabUpResult {
  dir: string;
  inventory: string;
  knownHosts: string;
  keyFile: string;
  hosts: { name: string; address: string }[];
  timings: Record<string, number>;
}

export function labDir(name: string, baseDir = DEFAULT_BASE_DIR): string {
  if (!LAB_NAME_RE.test(name)) throw new LabError(`invalid lab name ${JSON.stringify(name)}`, { lab: name });
  return join(resolve(baseDir), name);
}

export function makeDriver(name: LabDriverName, opts: ContainerDriverOptions = {}): LabDriver {
  if (name === 'container') return new ContainerDriver(opts);
  if (name === 'vm') return vmDriver;
  throw new LabUnsupportedError(`unknown lab driver ${name}`, { driver: name });
}

export function hostSpecs(hosts: number | LabHostSpec[]): LabHostSpec[] {
  if (typeof hosts !== 'number') return hosts;
  if (!Number.isInteger(hosts) || hosts < 1) throw new LabError(`host count must be a positive integer, got ${hosts}`);
  return Array.from({ length: hosts }, (_, i) => ({ name: `h${i + 1}`, groups: ['lab'] }));
}

export async function labUp(opts: LabUpOptions = {}): Promise<LabUpResult> {
  const name = opts.name ?? 'default';
  const dir = labDir(name, opts.baseDir);
  const driver = makeDriver(opts.driver ?? 'container', opts.driverOptions);
  const state = await driver.up({ name, dir, hosts: hostSpecs(opts.hosts ?? 3) });
  const t = Date.now();
  const inventory = await writeLabInventory(state);
  state.timings.inventory = Date.now() - t;
  return {
    dir,
    inventory,
    knownHosts: join(dir, 'known_hosts'),
    keyFile: state.keyFile,
    hosts: state.hosts.map((h) => ({ name: h.name, address: h.address })),
    timings: state.timings,
  };
}

/** Driver of an existing lab, from its state (a lab with no state is assumed to be a container lab). */
export async function driverFor(dir: string): Promise<LabDriver> {
  const state = await readState(dir);
  return makeDriver(state?.driver ?? 'container');
}

export async function labDown(name: string, baseDir?: string): Promise<void> {
  const dir = labDir(name, baseDir);
  await (await driverFor(dir)).down(dir);
}

export async function labStatus(name: string, baseDir?: string): Promise<LabStatus> {
  const dir = labDir(name, baseDir);
  const status = await (await driverFor(dir)).status(dir);
  return { ...status, name };
}
