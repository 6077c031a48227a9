// The one reader of `key=value` output (probes, facts): the shape every probe script prints.

/** Probe output as `key=value` lines; a key may repeat (values kept in order). Other lines are ignored. */
export class KeyValues {
  private readonly map = new Map<string, string[]>();
  private readonly ordered: [string, string][] = [];
  constructor(stdout: string) {
    for (const line of stdout.split('\n')) {
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq);
      if (!/^[A-Za-z0-9_./]+$/.test(key)) continue; // '/': sysctl paths (conf/all/arp_ignore)
      const value = line.slice(eq + 1);
      const list = this.map.get(key) ?? [];
      list.push(value);
      this.map.set(key, list);
      this.ordered.push([key, value]);
    }
  }
  /** Every pair in output order (for keys whose lines interleave, e.g. interfaces and their addresses). */
  entries(): readonly [string, string][] {
    return this.ordered;
  }
  /** Last value of `key`, or undefined. */
  get(key: string): string | undefined {
    const list = this.map.get(key);
    return list?.[list.length - 1];
  }
  all(key: string): string[] {
    return this.map.get(key) ?? [];
  }
  has(key: string): boolean {
    return this.map.has(key);
  }
}
