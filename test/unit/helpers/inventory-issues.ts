// Inventory tests write a text to a temporary file and load it: these give back what the loader
// refused, as [line, message] pairs, so a test states the errors an operator would see.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InventoryError, loadInventory } from '../../../src/inventory/load.js';

/** The text written to a fresh temporary inventory.yaml; returns its path. */
export function tmpInventory(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'provision-test-inv-')), 'inventory.yaml');
  writeFileSync(file, text);
  return file;
}

/**
 * [line, message] of every issue, [] when the text loads. With `values` (the default) each
 * message starts with the refused value as JSON, as the CLI prints it.
 */
export function inventoryIssues(text: string, o: { values?: boolean } = {}): [number | undefined, string][] {
  const values = o.values ?? true;
  try {
    loadInventory(tmpInventory(text));
    return [];
  } catch (e) {
    assert.ok(e instanceof InventoryError, String(e));
    assert.equal(e.exitCode, 2);
    return e.issues.map((i) => [i.line, `${values && i.value !== undefined ? `${JSON.stringify(i.value)} ` : ''}${i.message}`]);
  }
}
