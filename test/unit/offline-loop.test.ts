// The offline render runs the engine's own task loop against a blank virtual host: a later task
// sees the files earlier ones wrote (re-planned when a batch's guard finds them), a task whose
// probe has no blank state is skipped without stopping the host, and the loop's round trips are
// counted as a host would see them. Nothing connects anywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInventory } from '../../src/inventory/load.js';
import { selectHosts } from '../../src/inventory/select.js';
import { renderOffline } from '../../src/core/offline.js';
import { sh } from '../../src/core/shell.js';
import type { Playbook, Task } from '../../src/core/types.js';
import { file, lineInFile } from '../../src/modules/index.js';
import { testFacts } from './helpers/local-host.js';

test('offline render: the engine loop on a blank host; no-blank probes skipped; round trips counted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'provision-offline-'));
  writeFileSync(join(dir, 'inv.yaml'), 'all:\n  hosts:\n    web1:\n      ansible_host: 127.0.0.1\n');
  const inventory = loadInventory(join(dir, 'inv.yaml'));
  const noBlank: Task = {
    name: 'unknowable',
    module: 'test',
    probe: () => ({ script: sh`uname -r`, parse: (o) => o.stdout }),
    footprint: () => ({ reads: ['test:x'], writes: ['test:x'] }),
    plan: () => [],
  };
  const playbook: Playbook = {
    name: 't',
    plays: [
      {
        name: 'p',
        hosts: 'all',
        tasks: () => [
          file({ name: 'A', path: '/etc/a.conf', content: 'one\n' }),
          noBlank,
          // Planned on the blank "absent" first; the batch's guard sees A's file and it is planned again as an edit.
          lineInFile({ name: 'L', path: '/etc/a.conf', line: 'two' }),
          file({ name: 'B', path: '/etc/b.conf', content: 'b\n' }),
        ],
      },
    ],
  };
  const r = await renderOffline({
    inventory,
    playbook,
    playbookName: 't',
    hosts: selectHosts(inventory, 'all'),
    facts: { web1: testFacts() },
    projectDir: dir,
  });
  const h = r.hosts.web1!;
  assert.equal(h.report.error, undefined);
  assert.deepEqual(
    h.report.tasks.map((t) => `${t.task}:${t.status}`),
    ['A:changed', 'unknowable:skipped', 'L:changed', 'B:changed'],
  );
  assert.match(h.report.tasks[1]!.error ?? '', /no blank state/);
  const a = h.files.find((f) => f.path === '/etc/a.conf');
  assert.equal(a?.content.toString(), 'one\ntwo\n');
  // One probe batch, one script (A, then L's guard stops it: L re-planned), one script (L, B).
  assert.equal(h.report.roundTrips, 3);
});
