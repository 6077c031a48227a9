// The Markdown runbook carries status notes (a real server out of service by its health check)
// and ends with the rollback command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMarkdown } from '../../src/ui/markdown.js';
import type { RunReport } from '../../src/core/types.js';

const run = (mode: 'check' | 'apply'): RunReport => ({
  id: '20261201T080000Z-abc123',
  mode,
  inventory: '/srv/lvs/inventory.yaml',
  playbook: 'site',
  startedAt: '2026-12-01T08:00:00.000Z',
  durationMs: 1,
  hosts: [
    {
      host: 'director',
      tasks: [
        {
          task: 'IPVS rules (live table)',
          module: 'ipvsRules',
          status: 'ok',
          changes: [],
          notes: ['10.0.0.16:80 of -t 10.0.0.18:80: out of service: health check failing (since 2026-12-01T07:59:00.000Z)'],
          durationMs: 1,
        },
      ],
      recap: { ok: 1, changed: 0, failed: 0, skipped: 0 },
      roundTrips: 3,
      durationMs: 1,
    },
  ],
});

test('markdown: notes under their task, rollback command at the end', () => {
  const c = renderMarkdown(run('check'));
  assert.match(
    c,
    /1\. \*\*IPVS rules \(live table\)\*\* \(`ipvsRules`\) — ok\n {3}- note: 10\.0\.0\.16:80 of -t 10\.0\.0\.18:80: out of service: health check failing/,
  );
  assert.match(c, /## Rollback\n\nAfter `provision up \/srv\/lvs\/inventory\.yaml`, undo that run with `provision rollback \/srv\/lvs\/inventory\.yaml RUN`/);
  assert.match(renderMarkdown(run('apply')), /## Rollback\n\n`provision rollback \/srv\/lvs\/inventory\.yaml 20261201T080000Z-abc123`\n$/);
});
