// drain/undrain edit the inventory text in place: weight 0 with the old weight kept on the line,
// every other byte (comments, indentation, quoting, key order) unchanged; undrain gives back the
// original text exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInventory } from '../../src/inventory/load.js';
import { drainTargets, drainText, undrainText } from '../../src/lvs/drain.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

const load = (text: string) => {
  const f = join(mkdtempSync(join(tmpdir(), 'provision-drain-')), 'inventory.yaml');
  writeFileSync(f, text);
  return loadInventory(f);
};

// The seed inventory with comments and odd layout added around the real servers.
const SEED = readFileSync(join(ROOT, 'inventory/seed.yaml'), 'utf8')
  .replace(
    '            - host: rs2\n              port: 80\n              weight: 1\n',
    '            - host: rs2   # the new box\n              port: 80\n              weight: 1     # same as rs1 for now\n',
  )
  .replace('            - host: rs1\n              port: 80\n              weight: 1\n', '            - host: rs1\n              port: 80\n');

test('drain sets weight 0 in place, keeps every comment, and undrain restores the exact text', () => {
  assert.match(SEED, /# the new box/);
  const inv = load(SEED);
  const targets = drainTargets(inv.lvs!.services, 'rs2');
  assert.deepEqual(
    targets.map((t) => [t.service, t.address, t.weight]),
    [['web', '192.168.0.217', 1]],
  );
  const d = drainText(SEED, targets);
  assert.deepEqual(d.was, [1]);
  const diff = SEED.split('\n')
    .map((l, i) => [l, d.text.split('\n')[i]])
    .filter(([a, b]) => a !== b);
  assert.deepEqual(diff, [['              weight: 1     # same as rs1 for now', '              weight: 0 # provision drain: was 1     # same as rs1 for now']]);
  assert.equal(load(d.text).lvs!.services[0]!.realServers[1]!.weight, 0);
  assert.deepEqual(drainText(d.text, targets).was, ['already']);
  const u = undrainText(d.text, targets);
  assert.deepEqual(u.restored, [1]);
  assert.equal(u.text, SEED);
  assert.deepEqual(undrainText(SEED, targets).restored, ['not drained']);
});

test('drain of a real server without a weight line adds one (same indent); undrain removes it', () => {
  const inv = load(SEED);
  const targets = drainTargets(inv.lvs!.services, 'rs1', 'web');
  const d = drainText(SEED, targets);
  assert.match(
    d.text,
    /            - host: rs1\n              port: 80\n              weight: 0 # provision drain: was 1 \(weight line added\)\n            - host: rs2/,
  );
  assert.equal(load(d.text).lvs!.services[0]!.realServers[0]!.weight, 0);
  assert.equal(undrainText(d.text, targets).text, SEED);
  // Both real servers at once, bottom-up edits: both come back.
  const both = [...targets, ...drainTargets(inv.lvs!.services, 'rs2')];
  const d2 = drainText(SEED, both);
  assert.deepEqual(
    load(d2.text).lvs!.services[0]!.realServers.map((r) => r.weight),
    [0, 0],
  );
  assert.equal(undrainText(d2.text, both).text, SEED);
});

test('drain refuses what it cannot name or edit safely', () => {
  const inv = load(SEED);
  assert.throws(() => drainTargets(inv.lvs!.services, 'nosuch'), /nosuch is not a real server of any service/);
  assert.throws(() => drainTargets(inv.lvs!.services, 'rs1', 'mail'), /no service mail/);
  const flow = SEED.replace('            - host: rs1\n              port: 80\n', '            - {host: rs1, port: 80}\n');
  assert.throws(() => drainText(flow, drainTargets(load(flow).lvs!.services, 'rs1')), /flow mapping/);
});

test('rollback of a drain puts the inventory back, unless it was edited since', async () => {
  const { restoreInventoryEdit } = await import('../../src/cli/drain-commands.js');
  const file = join(mkdtempSync(join(tmpdir(), 'provision-drain-')), 'inventory.yaml');
  const targets = drainTargets(load(SEED).lvs!.services, 'rs2');
  const after = drainText(SEED, targets).text;
  writeFileSync(file, after);
  assert.match(restoreInventoryEdit({ file, before: SEED, after }), /restored to before the run/);
  assert.equal(readFileSync(file, 'utf8'), SEED);
  assert.match(restoreInventoryEdit({ file, before: SEED, after }), /already as before the run/);
  writeFileSync(file, `${after}# edited later\n`);
  assert.match(restoreInventoryEdit({ file, before: SEED, after }), /NOT restored: it was edited after the run/);
  assert.equal(readFileSync(file, 'utf8'), `${after}# edited later\n`);
});
