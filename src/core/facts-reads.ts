// Which facts a host's run reads. Tasks see the facts through a view that notes every key read
// (build, probe, plan, a template's render). The facts cache keeps the keys with the facts, and the
// next run gathers only the facts the shell reads itself when this one read none of the costly ones
// (COSTLY_FACTS): those come from the cache, unchecked. Reading one of them after all (a plan that
// takes a path the last run did not) is noted, and the engine checks it on the host before it
// reports or sends anything planned from it.
import type { HostFacts } from './types.js';

export type FactKey = keyof HostFacts;

export class FactsReads {
  /** Every key the view handed out this run. */
  readonly read = new Set<FactKey>();
  /** Keys read while their value was the cache's, not checked on the host yet. */
  readonly unchecked = new Set<FactKey>();
  private cachedOnly: ReadonlySet<FactKey> = new Set();

  /** The view tasks get: the same facts, every read noted. */
  view(facts: HostFacts): HostFacts {
    const note = (key: string | symbol) => {
      if (typeof key !== 'string' || !Object.hasOwn(facts, key)) return;
      const k = key as FactKey;
      this.read.add(k);
      if (this.cachedOnly.has(k)) this.unchecked.add(k);
    };
    // Whoever lists the keys (a template's #each, JSON.stringify) may read any of them.
    const all = () => {
      for (const k of Object.keys(facts)) note(k);
    };
    return new Proxy(facts, {
      get: (t, k, r) => (note(k), Reflect.get(t, k, r)),
      has: (t, k) => (note(k), Reflect.has(t, k)),
      getOwnPropertyDescriptor: (t, k) => (note(k), Reflect.getOwnPropertyDescriptor(t, k)),
      ownKeys: (t) => (all(), Reflect.ownKeys(t)),
    });
  }

  /** From now on these keys hold the cache's values: a read of one is unchecked. */
  fromCache(keys: ReadonlySet<FactKey>): void {
    this.cachedOnly = keys;
  }

  /** The host's own values are known for every key now. */
  checked(): void {
    this.cachedOnly = new Set();
    this.unchecked.clear();
  }

  /** The keys read, in a stable order (what the cache keeps). */
  keys(): FactKey[] {
    return [...this.read].sort();
  }
}
