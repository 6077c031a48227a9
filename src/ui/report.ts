// Human output after a run: changes with their diffs, and one recap line per host.
import type { HostReport, RunReport } from '../core/types.js';

export function recapLine(r: HostReport): string {
  if (r.error && r.tasks.length === 0) return `${r.errorKind === 'failed' ? 'FAILED' : 'UNREACHABLE'}: ${r.error}`;
  const c = r.recap;
  const base = `ok=${c.ok} changed=${c.changed} failed=${c.failed} skipped=${c.skipped} round-trips=${r.roundTrips} ${(r.durationMs / 1000).toFixed(1)}s`;
  return r.error ? `${base} ERROR: ${r.error}` : base;
}

export interface Palette {
  add(s: string): string;
  del(s: string): string;
  head(s: string): string;
  bad(s: string): string;
}

export function palette(color: boolean): Palette {
  const wrap = (code: number) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { add: wrap(32), del: wrap(31), head: wrap(1), bad: wrap(31) };
}

export function colorDiff(diff: string, p: Palette): string {
  return diff
    .split('\n')
    .map((l) => (l.startsWith('+') ? p.add(l) : l.startsWith('-') ? p.del(l) : l))
    .join('\n');
}

/** Changes (planned in check mode, made in apply mode), with diffs when asked. */
export function renderChanges(run: RunReport, o: { diff: boolean; color: boolean }): string {
  const p = palette(o.color);
  const out: string[] = [];
  const verb = run.mode === 'check' ? 'would change' : 'changed';
  for (const h of run.hosts) {
    for (const t of h.tasks) {
      for (const n of t.notes ?? []) out.push(`${h.host} | note | ${t.task}: ${n}`);
      if (t.status !== 'changed' && t.status !== 'failed') continue;
      out.push(p.head(`${h.host} | ${t.status === 'failed' ? 'FAILED' : verb} | ${t.task}`));
      if (t.error) out.push(p.bad(`  ${t.error.split('\n').join('\n  ')}`));
      for (const c of t.changes) {
        out.push(`  - ${c.summary}${c.reason ? ` (${c.reason})` : ''}`);
        if (o.diff && c.diff)
          out.push(
            colorDiff(c.diff.replace(/\n$/, ''), p)
              .split('\n')
              .map((l) => `    ${l}`)
              .join('\n'),
          );
      }
    }
  }
  return out.join('\n');
}

export function renderRecap(run: RunReport, color: boolean): string {
  const p = palette(color);
  const width = Math.max(...run.hosts.map((h) => h.host.length), 4);
  const lines = run.hosts.map((h) => {
    const bad = !!h.error || h.recap.failed > 0;
    const line = `${h.host.padEnd(width)} : ${recapLine(h)}`;
    return bad ? p.bad(line) : line;
  });
  return [p.head(`RECAP (${run.mode}, ${(run.durationMs / 1000).toFixed(1)}s)`), ...lines].join('\n');
}
