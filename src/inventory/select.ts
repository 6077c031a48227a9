// Host patterns: a play's `hosts:` and the CLI's --limit (an Ansible-style subset).
import { InventoryError } from './errors.js';
import type { HostEntry, Inventory } from './types.js';

function names(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Hosts named by host or group names; unknown names are reported under `label`. */
function resolveNames(inv: Inventory, list: string[], label: string): Set<string> {
  const out = new Set<string>();
  const unknown: string[] = [];
  for (const n of list) {
    const group = inv.groups.get(n);
    if (group) for (const h of group) out.add(h);
    else if (inv.hosts.has(n)) out.add(n);
    else unknown.push(n);
  }
  if (unknown.length) {
    throw new InventoryError(
      unknown.map((n) => ({
        file: inv.file,
        path: [],
        label,
        value: n,
        message: 'is not a host or group of this inventory',
      })),
    );
  }
  return out;
}

/**
 * Hosts matching `pattern` (a group or host name, or several comma-separated), narrowed to
 * `limit` (comma-separated host/group names) when given. Inventory order.
 * Throws InventoryError for a name that is neither a host nor a group.
 */
export function selectHosts(inv: Inventory, pattern: string, limit?: string): HostEntry[] {
  const wanted = resolveNames(inv, names(pattern), `hosts pattern "${pattern}"`);
  const allowed = limit === undefined ? undefined : resolveNames(inv, names(limit), '--limit');
  const out: HostEntry[] = [];
  for (const [name, host] of inv.hosts) {
    if (wanted.has(name) && (!allowed || allowed.has(name))) out.push(host);
  }
  return out;
}
