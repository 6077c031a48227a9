// state.json: written atomically and durably (shared atomic-file helper) and serially, after
// every resource is recorded, so a crash at any point leaves a readable record.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/atomic-file.js';
import type { LabState } from './driver.js';
import { LabError } from './errors.js';

export const stateFile = (dir: string) => join(dir, 'state.json');

export async function readState(dir: string): Promise<LabState | null> {
  let text: string;
  try {
    text = await readFile(stateFile(dir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const state = JSON.parse(text) as LabState;
  const driver: string = state.driver;
  if (driver !== 'container' && driver !== 'vm') throw new LabError(`${stateFile(dir)}: unknown lab driver ${JSON.stringify(driver)}`, { path: dir });
  return state;
}

/** The lab in `dir` if it was made by `driver` (null if there is none); another driver's lab is an error. */
export async function readDriverState<K extends LabState['driver']>(dir: string, driver: K): Promise<Extract<LabState, { driver: K }> | null> {
  const state = await readState(dir);
  if (!state) return null;
  if (state.driver !== driver) throw new LabError(`lab in ${dir} is a ${state.driver} lab, not a ${driver} lab`, { path: dir, lab: state.name });
  return state as Extract<LabState, { driver: K }>;
}

export class StateWriter {
  private chain: Promise<void> = Promise.resolve();
  constructor(readonly state: LabState) {}

  /** Queues a write of the current state; resolves once that write is on disk. */
  save(): Promise<void> {
    const next = this.chain.then(() => writeFileAtomic(stateFile(this.state.dir), JSON.stringify(this.state, null, 2)));
    this.chain = next.catch(() => {});
    return next;
  }
}
