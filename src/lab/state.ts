// state.json: written atomically (temp + rename) and serially, after every
// resource is recorded, so a crash at any point leaves a readable record.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LabState } from './driver.js';

export const stateFile = (dir: string) => join(dir, 'state.json');

export async function readState(dir: string): Promise<LabState | null> {
  let text: string;
  try {
    text = await readFile(stateFile(dir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return JSON.parse(text) as LabState;
}

export class StateWriter {
  private chain: Promise<void> = Promise.resolve();
  constructor(readonly state: LabState) {}

  /** Queues a write of the current state; resolves once that write is on disk. */
  save(): Promise<void> {
    const next = this.chain.then(async () => {
      const file = stateFile(this.state.dir);
      const tmp = `${file}.tmp`;
      await writeFile(tmp, JSON.stringify(this.state, null, 2));
      await rename(tmp, file);
    });
    this.chain = next.catch(() => {});
    return next;
  }
}
