// The CLI starts fast: --version and --help load commander and the command definitions only,
// never the SSH, lab or UI modules (each command imports its work when it runs). The loads are
// recorded by a loader hook (helpers/load-recorder.ts); `render`, which does load them, shows
// the recorder sees them. Start times are measured by bench/cli-start.ts, not asserted here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const RECORDER = fileURLToPath(new URL('./helpers/load-recorder.js', import.meta.url));
const HEAVY = [
  '/node_modules/ssh2/',
  '/node_modules/listr2/',
  '/node_modules/tsx/',
  '/dist/src/ssh/',
  '/dist/src/lab/',
  '/dist/src/ui/',
  '/dist/src/core/run.js',
];

/** Runs the CLI with the load recorder: its exit code, stdout and every module URL it loaded. */
function loads(args: string[]): Promise<{ code: number; stdout: string; urls: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'cli-loads-'));
  const log = join(dir, 'loads');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', RECORDER, CLI, ...args],
      { env: { ...process.env, NO_COLOR: '1', PROVISION_LOAD_LOG: log }, cwd: ROOT },
      (err, stdout) => {
        const code = err ? Number((err as { code?: unknown }).code ?? 1) : 0;
        let urls: string[] = [];
        try {
          urls = readFileSync(log, 'utf8').trim().split('\n');
        } catch {}
        rmSync(dir, { recursive: true, force: true });
        resolve({ code, stdout: String(stdout), urls });
      },
    );
  });
}

const heavyIn = (urls: string[]) => HEAVY.filter((h) => urls.some((u) => u.includes(h)));

test('--version and --help load no SSH, lab, UI or engine module', async () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const version = await loads(['--version']);
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), pkg.version);
  const help = await loads(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /\n {2}up\b/);
  for (const r of [version, help]) {
    assert.ok(
      r.urls.some((u) => u.endsWith('/dist/src/cli.js')),
      'the recorder saw the CLI itself',
    );
    assert.deepEqual(heavyIn(r.urls), []);
  }
  const sub = await loads(['check', '--help']);
  assert.equal(sub.code, 0);
  assert.deepEqual(heavyIn(sub.urls), []);
});

test('a command that works loads its modules when it runs (the recorder sees them)', async () => {
  const r = await loads(['render', join(ROOT, 'inventory/seed.yaml'), '--facts', join(ROOT, 'test/fixtures/facts/seed-legacy.yaml'), '--limit', 'director']);
  assert.equal(r.code, 0);
  for (const h of ['/node_modules/ssh2/', '/dist/src/ssh/', '/dist/src/ui/']) assert.ok(heavyIn(r.urls).includes(h), `render loaded ${h}`);
});
