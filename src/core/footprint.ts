// Which cached probe results a change makes stale. Keys name resources: "file:<abs path>" (a
// path meets its ancestors and descendants: creating /etc/mon affects /etc/mon/mon.cf), any other
// "kind:name" meets only itself, "*" meets everything. A task without a footprint reads and writes
// "*", so the engine's default stays "re-probe everything after a change". Paths are compared as
// written: a playbook that names one file by two spellings (a symlinked directory) should not
// declare footprints for it.
import type { Footprint, Task, TaskContext } from './types.js';

export const ANY: Footprint = { reads: ['*'], writes: ['*'] };

export const fileKey = (path: string) => `file:${path.replace(/\/+$/, '') || '/'}`;

function keysMeet(a: string, b: string): boolean {
  if (a === '*' || b === '*' || a === b) return true;
  if (!a.startsWith('file:') || !b.startsWith('file:')) return false;
  const [x, y] = [a.slice(5), b.slice(5)];
  const under = (child: string, dir: string) => dir === '/' || child.startsWith(`${dir}/`);
  return under(x, y) || under(y, x);
}

export const footprintOf = (task: Task, ctx: TaskContext): Footprint => task.footprint?.(ctx) ?? ANY;

/** True when a change with footprint `w` may have altered what a probe with footprint `r` saw. */
export function meets(w: Footprint, r: Footprint): boolean {
  return w.writes.some((a) => r.reads.some((b) => keysMeet(a, b)));
}

/** True when a change by `writer` may have altered what `reader`'s probe saw. */
export function invalidates(writer: Task, reader: Task, ctx: TaskContext): boolean {
  return meets(footprintOf(writer, ctx), footprintOf(reader, ctx));
}

/** A footprint that reads and writes the same keys (most modules: a file, a sysctl, a table). */
export function own(...keys: string[]): Footprint {
  return { reads: keys, writes: keys };
}
