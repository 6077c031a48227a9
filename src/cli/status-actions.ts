// `provision status` at work; loaded by status-commands.ts only when it runs.
import { loadInventory } from '../inventory/load.js';
import { openConnection } from '../ssh/index.js';
import { EXIT, UsageError } from '../core/errors.js';
import { clusterStatus, parseDirector, renderStatus, statusScript, type DirectorState } from '../lvs/status.js';

export async function statusAction(inv: string, f: { json?: boolean; acceptNewHostKeys?: boolean }): Promise<void> {
  const inventory = loadInventory(inv);
  const lvs = inventory.lvs;
  if (!lvs || lvs.services.length === 0) throw new UsageError('the inventory has no lvs.services');
  const directors = (inventory.groups.get('directors') ?? []).map((n) => inventory.hosts.get(n)!);
  if (directors.length === 0) throw new UsageError('the inventory has no group directors');
  const script = statusScript(lvs);
  const states = await Promise.all(
    directors.map(async (h): Promise<DirectorState> => {
      try {
        const conn = await openConnection(h.ssh, { acceptNewHostKeys: !!f.acceptNewHostKeys });
        try {
          const r = await conn.exec(script, { become: true });
          return parseDirector(h.name, r.stdout, lvs);
        } finally {
          await conn.close();
        }
      } catch (e) {
        return {
          director: h.name,
          error: (e as Error).message,
          addresses: [],
          table: [],
          list: new Map(),
          stats: new Map(),
          rate: new Map(),
          health: new Map(),
        };
      }
    }),
  );
  const st = clusterStatus(lvs, states);
  process.stdout.write(`${f.json ? JSON.stringify(st, null, 2) : renderStatus(st)}\n`);
  process.exitCode = st.ok ? EXIT.ok : EXIT.failed;
}
