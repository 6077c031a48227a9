// A guarded command whose effect the playbook knows how to reverse (noarpctl add / del, arptables
// -A / -D): the command module's probe and guard, plus exact undo steps for the journal.
import type { Task } from '../../src/core/types.js';
import { command, type CommandOptions } from '../../src/modules/index.js';

export function undoableCommand(opts: CommandOptions & { undo: string }): Task {
  const base = command(opts);
  return {
    ...base,
    async plan(state, ctx) {
      const changes = await base.plan(state, ctx);
      return changes.map((c) => ({ ...c, summary: `run ${opts.name}`, undo: [{ kind: 'exec' as const, script: opts.undo }] }));
    },
  };
}
