// The sample playbook's init script (templates/demo/demo-web.init.hbs), rendered and run for real:
// `stop` returns only once the server is gone, so the `start` of a restart finds its port free.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderTemplate } from '../../src/modules/template.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

test('demo-web stop waits for a server slow to exit; status reads the pid file without a newline', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'demo-init-'));
  let holder: ReturnType<typeof spawn> | undefined;
  try {
    const pidFile = join(dir, 'demo-web.pid');
    const script = join(dir, 'demo-web');
    const text = renderTemplate(ROOT, 'demo/demo-web.init.hbs', { port: 18099, root: dir }).replace('PIDFILE=/run/demo-web.pid', `PIDFILE=${pidFile}`);
    assert.ok(text.includes(`PIDFILE=${pidFile}`));
    writeFileSync(script, text, { mode: 0o755 });
    // A stand-in server that takes ~0.6 s to exit after SIGTERM (a busy or descheduled one). A shell
    // that waits on it reaps it at once, as init reaps a daemon (this machine's pid 1 may not).
    holder = spawn('/bin/sh', ['-c', `/bin/sh -c 'trap "sleep 0.6; exit 0" TERM; while :; do sleep 0.05; done' & echo $!; wait`], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const pid = Number(await new Promise<string>((r) => holder!.stdout!.once('data', (d: Buffer) => r(d.toString()))));
    await new Promise((r) => setTimeout(r, 200));
    writeFileSync(pidFile, String(pid)); // no trailing newline
    assert.match(execFileSync(script, ['status'], { encoding: 'utf8' }), /running/);
    const t0 = Date.now();
    execFileSync(script, ['stop']);
    assert.throws(() => process.kill(pid, 0), 'the server is gone when stop returns');
    assert.ok(Date.now() - t0 >= 500, 'stop waited for the server to exit');
    assert.throws(() => readFileSync(pidFile), 'the pid file is removed');
    const after = spawnSync(script, ['status'], { encoding: 'utf8' });
    assert.deepEqual([after.status, after.stdout.trim()], [3, 'demo-web is stopped']);
  } finally {
    holder?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
