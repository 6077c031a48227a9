// Facts of each host from its last run (<stateDir>/facts/<host>.json): the next run builds the
// host's tasks from them and sends the facts script and every probe in ONE round trip; when the
// host's facts turn out different, the engine rebuilds the tasks and probes again. A cache that
// cannot be read or written only costs that round trip.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { HostFacts } from './types.js';
import { writeFileAtomic } from './atomic-file.js';

export class FactsCache {
  constructor(private readonly stateDir: string) {}

  private file(host: string): string {
    return join(this.stateDir, 'facts', `${encodeURIComponent(host)}.json`);
  }

  get(host: string): HostFacts | undefined {
    try {
      return JSON.parse(readFileSync(this.file(host), 'utf8')) as HostFacts;
    } catch {
      return undefined;
    }
  }

  put(host: string, facts: HostFacts): void {
    if (isDeepStrictEqual(this.get(host), facts)) return;
    try {
      writeFileAtomic(this.file(host), `${JSON.stringify(facts)}\n`);
    } catch {
      /* a cache only */
    }
  }
}
