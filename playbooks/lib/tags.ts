// Tags for the LVS plays, so `-t` can narrow a run (listed in the README):
//   director, realserver, monitor  - the role (every task of that play)
//   vip      - VIP addresses (ipAddress tasks)
//   sysctl   - kernel parameters (sysctl tasks)
//   rules    - the IPVS table: live table, boot rules file, and the monitor's weight-bearing config
//              (mon.cf / keepalived.conf), so `-t rules` never leaves the monitor re-adding a real
//              server with a weight the table no longer has.
// Module-derived tags are added here; the few file tasks that carry rules say so with `tags: [RULES]`.
import type { Task, TaskContext } from '../../src/core/types.js';

export const RULES = 'rules';
const BY_MODULE: Record<string, string> = { sysctl: 'sysctl', ipAddress: 'vip', ipvsRules: RULES };

/** The play's task builder with its role tag (and module-derived tags) added to every task. */
export function tagged(role: string, build: (ctx: TaskContext) => Task[]): (ctx: TaskContext) => Task[] {
  return (ctx) =>
    build(ctx).map((t) => {
      const tags = [...new Set([...(t.tags ?? []), role, ...(BY_MODULE[t.module] ? [BY_MODULE[t.module]!] : [])])];
      return Object.assign(Object.create(Object.getPrototypeOf(t) as object) as Task, t, { tags });
    });
}
