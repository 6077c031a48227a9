// The CLI as a user meets it: help, usage errors and their exit codes. Nothing here connects:
// the only inventory used is the seed's, whose production addresses must never be contacted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { provision } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const SEED = join(ROOT, 'inventory/seed.yaml');

test('--help lists the commands and exits 0', async () => {
  const r = await provision(['--help']);
  assert.equal(r.code, 0);
  for (const c of ['up', 'check', 'render', 'verify', 'rollback', 'runs', 'facts', 'lab']) assert.match(r.stdout, new RegExp(`\\n  ${c}\\b`));
});

test('usage errors exit 2 with a message', async () => {
  const unknown = await provision(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command/);
  const badVar = await provision(['check', SEED, '-e', 'novalue']);
  assert.equal(badVar.code, 2);
  assert.match(badVar.stderr, /expected key=value/);
  const badForks = await provision(['check', SEED, '--forks', '0']);
  assert.equal(badForks.code, 2);
  const noPlaybook = await provision(['check', SEED, 'no-such-playbook']);
  assert.equal(noPlaybook.code, 2);
  assert.match(noPlaybook.stderr, /playbook not found: no-such-playbook/);
});

test('--ask-pass without a terminal is a usage error before anything connects', async () => {
  const r = await provision(['check', SEED, '--ask-pass']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--ask-pass needs a terminal/);
});

test('render needs a facts fixture and names a host missing from it', async () => {
  const noFacts = await provision(['render', SEED]);
  assert.equal(noFacts.code, 2);
  assert.match(noFacts.stderr, /--facts/);
  const r = await provision(['render', SEED, '--facts', join(ROOT, 'test/fixtures/facts/seed-legacy.yaml'), '--limit', 'director', '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.hosts.length, 1);
  assert.equal(rep.hosts[0].host, 'director');
  assert.equal(rep.hosts[0].recap.failed, 0);
});

test('an LVS playbook on an inventory without lvs: refused before any host is contacted (exit 2), nothing written', async () => {
  const { tmpInventory } = await import('./helpers/inventory-issues.js');
  const { existsSync } = await import('node:fs');
  const { dirname } = await import('node:path');
  // The host's address answers nothing: a run that tried to connect would fail otherwise (exit 1).
  const inv = tmpInventory('all:\n  children:\n    directors:\n      hosts:\n        d1: {ansible_host: 127.0.0.1, ansible_port: 1}\n');
  const stateDir = join(dirname(inv), 'state');
  const facts = join(ROOT, 'test/fixtures/facts/debian-12.yaml');
  for (const args of [
    ['up', inv, '--state-dir', stateDir],
    ['check', inv, 'director', '--state-dir', stateDir],
    ['render', inv, '--facts', facts],
  ]) {
    const r = await provision(args);
    assert.equal(r.code, 2, `${args[0]}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /the (site|director) playbook cannot run on this inventory: the inventory has no lvs\.services \(a var of all\)/);
  }
  assert.equal(existsSync(stateDir), false, 'no journal, no lock: nothing started');
});
