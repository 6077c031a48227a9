// Facts of each host from its last run (<stateDir>/facts/<host>.json), with the keys that run read:
// the next run builds the host's tasks from them and sends the facts script and every probe in ONE
// round trip; when the host's facts turn out different, the engine rebuilds the tasks and probes
// again. When the last run read none of the costly facts, the next gathers only the others
// (core/facts-reads.ts). A cache that cannot be read or written only costs that round trip.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { HostFacts } from './types.js';
import type { FactKey } from './facts-reads.js';
import { writeFileAtomic } from './atomic-file.js';

export interface CachedFacts {
  facts: HostFacts;
  /** The keys the run that wrote them read; absent in a cache written before they were kept. */
  reads?: FactKey[];
}

export class FactsCache {
  constructor(private readonly stateDir: string) {}

  private file(host: string): string {
    return join(this.stateDir, 'facts', `${encodeURIComponent(host)}.json`);
  }

  get(host: string): CachedFacts | undefined {
    try {
      const got = JSON.parse(readFileSync(this.file(host), 'utf8')) as unknown;
      if (!got || typeof got !== 'object') return undefined;
      // Before the reads were kept, the file held the facts alone.
      if (!('facts' in got)) return { facts: got as HostFacts };
      const { facts, reads } = got as CachedFacts;
      return Array.isArray(reads) && reads.every((k) => typeof k === 'string') ? { facts, reads } : { facts };
    } catch {
      return undefined;
    }
  }

  put(host: string, entry: CachedFacts): void {
    if (isDeepStrictEqual(this.get(host), entry)) return;
    try {
      writeFileAtomic(this.file(host), `${JSON.stringify(entry)}\n`);
    } catch {
      /* a cache only */
    }
  }
}
