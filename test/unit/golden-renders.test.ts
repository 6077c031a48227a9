// Golden renders: the WHOLE offline render (every host's tasks, files and commands) of the seed
// inventory and of a lab-style inventory on each OS facts fixture (CentOS 4.5, RHEL AS 3,
// CentOS 5, Rocky 9, Debian 12, Ubuntu 24.04) equals the reviewed file in test/fixtures/golden/.
// A change to a template or playbook shows up here as a diff to review; after reviewing it,
// regenerate with: PROVISION_UPDATE_GOLDEN=1 node --test dist/test/unit/golden-renders.test.js
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CASES, ROOT, rendered, serialize } from './helpers/renders.js';

for (const c of CASES) {
  test(`golden render: ${c.name} (${c.facts})`, async () => {
    const text = serialize((await rendered(c)).hosts);
    const file = join(ROOT, 'test/fixtures/golden', `${c.name}.txt`);
    if (process.env.PROVISION_UPDATE_GOLDEN === '1') writeFileSync(file, text);
    let want: string;
    try {
      want = readFileSync(file, 'utf8');
    } catch {
      assert.fail(`no golden file ${file}: run with PROVISION_UPDATE_GOLDEN=1 and review it`);
    }
    // Line by line first: the first differing line is a readable failure.
    const a = text.split('\n');
    const b = want.split('\n');
    const i = a.findIndex((l, n) => l !== b[n]);
    assert.equal(i === -1 && a.length === b.length, true, `render differs from ${file} at line ${i + 1}:\n  got:  ${a[i]}\n  want: ${b[i]}`);
  });
}
