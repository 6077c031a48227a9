import type { Script } from '../../../src/core/shell.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  enableScript,
  planService,
  retiredService,
  service,
  serviceFlavor,
  serviceProbe,
  serviceRestart,
  type ServiceState,
} from '../../../src/modules/service.js';
import { ModuleError } from '../../../src/modules/errors.js';
import { cleanExec, runScript } from '../../../src/modules/service.js';
import { loggedTools } from '../helpers/tool-wrappers.js';
import { raw as rawSh, SBIN_PATH } from '../../../src/core/shell.js';
import { spawnSync } from 'node:child_process';
import { runProbe, runSteps, sh, tempDir, testContext, testFacts } from '../helpers/local-host.js';

const scriptOf = (s: unknown): string => (s as { script: Script }).script.text;
const st = (flavor: ServiceState['flavor'], enabled: boolean, running: boolean): ServiceState => ({
  flavor,
  enabled,
  running,
  enabledRaw: '',
  registered: true,
});

describe('service plan (pure)', () => {
  it('flavor follows facts', () => {
    assert.equal(serviceFlavor(testFacts(), 'x'), 'systemd');
    assert.equal(serviceFlavor(testFacts({ init: 'sysv' }), 'x'), 'sysv-debian');
    assert.equal(serviceFlavor(testFacts({ init: 'sysv', os: { family: 'redhat', id: 'rhel', version: '4', prettyName: '' } }), 'x'), 'sysv-redhat');
    assert.throws(() => serviceFlavor(testFacts({ init: 'sysv', os: { family: 'unknown', id: '', version: '', prettyName: '' } }), 'x'), ModuleError);
  });

  it('systemd: enabled but not running -> start, undo stop', () => {
    const [c, ...rest] = planService('nginx', { enabled: true, running: true }, st('systemd', true, false));
    assert.equal(rest.length, 0);
    assert.equal(c!.summary, 'start service nginx');
    assert.match(scriptOf(c!.apply[0]), /systemctl start nginx$/);
    assert.match(scriptOf(c!.undo![0]), /systemctl stop nginx && \{ systemctl reset-failed nginx 2>\/dev\/null \|\| true; \}$/);
  });

  it('sysv Debian: not enabled, not running -> update-rc.d then service start, in that order', () => {
    const changes = planService('ldirectord', { enabled: true, running: true }, st('sysv-debian', false, false));
    assert.deepEqual(
      changes.map((c) => c.summary),
      ['enable service ldirectord at boot', 'start service ldirectord'],
    );
    assert.match(scriptOf(changes[0]!.apply[0]), /update-rc\.d ldirectord defaults/);
    assert.match(scriptOf(changes[0]!.undo![0]), /update-rc\.d ldirectord disable 2>\/dev\/null \|\| update-rc\.d -f ldirectord remove/);
    assert.match(scriptOf(changes[1]!.apply[0]), /service ldirectord start; else \/etc\/init\.d\/ldirectord start; fi/);
  });

  it('sysv Red Hat: chkconfig --add + on; disable is off', () => {
    assert.equal(enableScript('sysv-redhat', 'mon', true).text, 'chkconfig --add mon && chkconfig mon on');
    const [c] = planService('mon', { enabled: false }, st('sysv-redhat', true, true));
    assert.match(scriptOf(c!.apply[0]), /chkconfig mon off$/);
    assert.match(scriptOf(c!.undo![0]), /chkconfig --add mon && chkconfig mon on$/);
  });

  it('ok when state matches; unmanaged aspects are ignored', () => {
    assert.deepEqual(planService('x', { enabled: true, running: true }, st('systemd', true, true)), []);
    assert.deepEqual(planService('x', {}, st('systemd', false, false)), []);
  });

  it('restartOnNotify: a running service is restarted, a stopped one started', () => {
    const [r] = planService('x', { enabled: true, restartOnNotify: true }, st('sysv-debian', true, true));
    assert.match(r!.summary, /^restart service x/);
    assert.match(scriptOf(r!.apply[0]), /service x restart/);
    const [s] = planService('x', { restartOnNotify: true }, st('sysv-debian', true, false));
    assert.equal(s!.summary, 'start service x');
  });

  it('serviceRestart restarts a running service and leaves a stopped one stopped (try-restart)', async () => {
    const h = serviceRestart({ name: 'keepalived' });
    assert.equal(h.name, 'restart keepalived');
    const ctxSysv = testContext({}, { init: 'sysv' });
    const [c] = await h.plan(st('sysv-debian', true, true), ctxSysv);
    assert.match(scriptOf(c!.apply[0]), /service keepalived restart; else \/etc\/init\.d\/keepalived restart/);
    assert.equal(c!.undo, undefined);
    const [d] = await h.plan(st('systemd', true, true), testContext());
    assert.match(scriptOf(d!.apply[0]), /systemctl restart keepalived$/);
    // Stopped (e.g. a rollback stopped it): no change, so a handler never starts it.
    assert.deepEqual(await h.plan(st('systemd', true, false), testContext()), []);
    assert.deepEqual(await h.plan(st('sysv-redhat', false, false), ctxSysv), []);
    assert.match(h.probe(testContext()).script.text, /systemctl is-active --quiet keepalived/);
    assert.equal(serviceRestart({ name: 'reload lvs', service: 'ipvsadm' }).name, 'reload lvs');
  });

  it('validates names', () => {
    assert.throws(() => service({ name: '$(reboot)' }), ModuleError);
  });
});

describe('service probes with fake init tools (real sh)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const tool = async (name: string, body: string): Promise<void> => {
      await writeFile(join(dir, name), `#!/bin/sh\necho "${name} $*" >> ${dir}/calls\n${body}\n`);
      await chmod(join(dir, name), 0o755);
    };
    await tool('systemctl', 'case "$1" in is-enabled) echo disabled; exit 1;; is-active) exit 0;; esac; exit 0');
    await tool('service', 'case "$2" in status) exit 3;; esac; exit 0');
    await tool('chkconfig', 'echo "$2 0:off 1:off 2:on 3:on 4:on 5:on 6:off"');
    env = { PATH: `${dir}:${process.env.PATH}` };
  });
  after(() => cleanup());

  it('systemd: disabled + active', async () => {
    const s = await runProbe(serviceProbe('web', 'systemd'), { env });
    assert.deepEqual([s.enabled, s.running, s.enabledRaw], [false, true, 'disabled']);
    const [c] = planService('web', { enabled: true }, s);
    await runSteps(c!.apply, { env });
    assert.match(await readFile(join(dir, 'calls'), 'utf8'), /^systemctl enable web$/m);
  });

  it("a service change's evidence reads its state lines as the probe prints them: the host shows the before-state until the change runs (volatile: never drift)", async () => {
    const s = await runProbe(serviceProbe('web', 'systemd'), { env });
    const [enable, stop] = planService('web', { enabled: true, running: false }, s);
    assert.deepEqual(
      [enable!.evidence, stop!.evidence].map((e) => [e!.what, e!.before, e!.after, e!.volatile]),
      [
        // An enable registers the service too: both lines, as the probe prints them in a row.
        ['service web enabled', 'registered=1\nenabled=disabled\n', 'registered=1\nenabled=enabled\n', true],
        ['service web running', 'running=1\n', 'running=0\n', true],
      ],
    );
    for (const e of [enable!.evidence!, stop!.evidence!]) {
      assert.equal((await sh(e.check.text, { env })).stdout, e.before);
      assert.ok((await sh(serviceProbe('web', 'systemd').script.text, { env })).stdout.includes(e.before!), 'the probe prints the same lines');
    }
  });

  it('sysv Debian: status exit 3 is not running; no rc2.d link is not enabled', async () => {
    const s = await runProbe(serviceProbe('provision-test-svc', 'sysv-debian'), { env });
    assert.deepEqual([s.enabled, s.running, s.registered], [false, false, false]);
    assert.match(await readFile(join(dir, 'calls'), 'utf8'), /^service provision-test-svc status$/m);
  });

  it('sysv Red Hat: chkconfig 3:on is enabled', async () => {
    const s = await runProbe(serviceProbe('mon', 'sysv-redhat'), { env });
    assert.equal(s.enabled, true);
  });

  it('retiredService stops and disables only a service whose config file carries our marker', async () => {
    const conf = join(dir, 'mon.cf');
    const task = retiredService({ name: 'mon', ownedIf: { path: conf, marker: 'written by provision' } });
    const ctx = testContext();
    // No config at all, then someone else's: nothing to do although mon runs (fake systemctl: active).
    assert.deepEqual(await task.plan(await runProbe(task.probe(ctx), { env }), ctx), []);
    await writeFile(conf, "# the operator's own mon\n");
    const theirs = await runProbe(task.probe(ctx), { env });
    assert.equal(theirs.owned, false);
    assert.deepEqual(await task.plan(theirs, ctx), []);
    // Ours: stop (it runs); it is already disabled, so no enable change.
    await writeFile(conf, '# /etc/mon/mon.cf - written by provision from the inventory\n');
    const ours = await runProbe(task.probe(ctx), { env });
    assert.equal(ours.owned, true);
    const changes = await task.plan(ours, ctx);
    assert.deepEqual(
      changes.map((c) => c.summary),
      ['stop service mon'],
    );
    assert.match(changes[0]!.reason!, /no service needs mon any more/);
    assert.match(scriptOf(changes[0]!.apply[0]), /systemctl stop mon/);
    assert.match(scriptOf(changes[0]!.undo![0]), /systemctl start mon/);
  });
});

describe('service enable undo returns to exactly the state before', () => {
  it('a service with no boot links at all is unregistered again (no K links left behind)', () => {
    const never = { ...st('sysv-debian', false, false), registered: false };
    const [ch] = planService('demo', { enabled: true }, never);
    assert.match(scriptOf(ch!.undo![0]), /update-rc\.d -f demo remove/);
    const rh = planService('demo', { enabled: true }, { ...st('sysv-redhat', false, false), registered: false });
    assert.match(scriptOf(rh[0]!.undo![0]), /chkconfig --del demo/);
  });
  it('a service that was registered but disabled is disabled again', () => {
    const [ch] = planService('demo', { enabled: true }, { ...st('sysv-debian', false, false), registered: true });
    assert.match(scriptOf(ch!.undo![0]), /update-rc\.d demo disable/);
  });
});

// /etc/init.d and /etc/init are absolute paths: each case runs the probe in a private mount
// namespace (unshare -m) with a tmpfs over /etc holding only that case's init script and upstart
// job, so this machine's /etc is never touched.
describe('sysv status: Debian runs the init script itself (as `service` would), not `service`', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await writeFile(join(dir, 'service'), `#!/bin/sh\necho "service $*" >> ${dir}/calls\ncase "$2" in status) exit "$(cat ${dir}/service-code)";; esac\n`);
    await chmod(join(dir, 'service'), 0o755);
  });
  after(() => cleanup());

  /** Runs the probe of `web` with an init script answering `status` with `code` (none: no script). */
  const probe = async (flavor: 'sysv-debian' | 'sysv-redhat', o: { code?: number; upstart?: boolean; serviceCode: number }) => {
    await writeFile(join(dir, 'calls'), '');
    await writeFile(join(dir, 'service-code'), String(o.serviceCode));
    const init =
      o.code === undefined
        ? ''
        : `printf '%s\\n' '#!/bin/sh' 'echo "init $* $(env | sort | tr "\\n" " ")" >> ${dir}/calls' 'exit ${o.code}' > /etc/init.d/web; chmod 755 /etc/init.d/web`;
    const setup = ['mount --make-rprivate / && mount -t tmpfs tmpfs /etc && mkdir /etc/init.d /etc/init', init, o.upstart ? ': > /etc/init/web.conf' : ''].join(
      '\n',
    );
    const script = `${setup}\n( ${serviceProbe('web', flavor).script.text}\n)`;
    const r = await sh(`exec unshare -m /bin/sh -c ${`'${script.replace(/'/g, `'\\''`)}'`}`, {
      env: { PATH: `${dir}:${process.env.PATH}`, SECRET_TOKEN: 'x' },
    });
    assert.equal(r.code, 0, r.stderr);
    const running = /^running=(\d)$/m.exec(r.stdout)?.[1];
    return { running, calls: (await readFile(join(dir, 'calls'), 'utf8')).trim() };
  };

  it('the init script answers, with a clean environment; `service` is not started', async () => {
    const up = await probe('sysv-debian', { code: 0, serviceCode: 3 });
    assert.equal(up.running, '1');
    assert.doesNotMatch(up.calls, /^service /m);
    const init = /^init status (.*)$/m.exec(up.calls)?.[1] ?? '';
    assert.match(init, /LC_ALL=C/);
    assert.doesNotMatch(init, /SECRET_TOKEN/, 'env -i: the caller environment does not reach the init script');
    assert.equal((await probe('sysv-debian', { code: 3, serviceCode: 0 })).running, '0');
  });

  it('an upstart job, a missing init script and Red Hat go through `service`', async () => {
    for (const [flavor, o] of [
      ['sysv-debian', { code: 3, upstart: true, serviceCode: 0 }],
      ['sysv-debian', { serviceCode: 0 }],
      ['sysv-redhat', { code: 3, serviceCode: 0 }],
    ] as const) {
      const r = await probe(flavor, o);
      assert.equal(r.running, '1', `${flavor} ${JSON.stringify(o)}`);
      assert.deepEqual(r.calls.split('\n'), ['service web status'], `${flavor} ${JSON.stringify(o)}`);
    }
  });
});

// The real `service` of this machine (Debian's, no systemd running here) against provision's own
// start: the init script, in a private /etc (unshare -m, tmpfs), logs its arguments, its working
// directory and its whole environment; both must log the same.
describe('sysv Debian start/stop/restart: the init script run as `service` runs it, without `service`', () => {
  const initLogging = (log: string) =>
    `printf '%s\\n' '#!/bin/sh' 'echo "$* cwd=$(pwd) $(env | sort | tr "\\n" " ")" >> ${log}' > /etc/init.d/web; chmod 755 /etc/init.d/web`;
  const inPrivateEtc = async (body: string, env: NodeJS.ProcessEnv) => {
    const script = ['mount --make-rprivate / && mount -t tmpfs tmpfs /etc && mkdir /etc/init.d /etc/init', body].join('\n');
    return sh(`exec unshare -m /bin/sh -c ${`'${script.replace(/'/g, `'\\''`)}'`}`, { env });
  };

  it('same arguments, working directory and environment as Debian`s service gives it; `service` itself is not started', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const log = join(dir, 'init.log');
      const bin = join(dir, 'bin');
      await mkdir(bin);
      const env = await loggedTools(bin, join(dir, 'tools.log'), ['service']);
      // Variables the caller has (a locale from the login, a secret) and one it does not (LANGUAGE).
      const callerEnv: NodeJS.ProcessEnv = { ...env, LANG: 'C.UTF-8', LC_MESSAGES: 'POSIX', SECRET_TOKEN: 'x', TERM: 'dumb' };
      delete callerEnv.LANGUAGE;
      for (const action of ['start', 'stop', 'restart'] as const) {
        await writeFile(log, '');
        await writeFile(join(dir, 'tools.log'), '');
        const real = await inPrivateEtc(`${initLogging(log)}\ncd /tmp && ${SBIN_PATH.text}\nservice web ${action}`, callerEnv);
        assert.equal(real.code, 0, real.stderr);
        assert.equal(await readFile(join(dir, 'tools.log'), 'utf8'), 'service\n');
        const ours = await inPrivateEtc(`${initLogging(log)}\ncd /tmp && ${SBIN_PATH.text}\n${runScript('sysv-debian', 'web', action).text}`, callerEnv);
        assert.equal(ours.code, 0, ours.stderr);
        assert.equal(await readFile(join(dir, 'tools.log'), 'utf8'), 'service\n', 'provision did not start `service`');
        const [byService, byUs] = (await readFile(log, 'utf8')).split('\n');
        assert.match(byService!, new RegExp(`^${action} cwd=/ `));
        assert.doesNotMatch(byService!, /SECRET_TOKEN/);
        assert.equal(byUs, byService, action);
      }
    } finally {
      await cleanup();
    }
  });

  it('an upstart job, an OpenRC host and Red Hat go through `service`', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const bin = join(dir, 'bin');
      await mkdir(bin);
      await writeFile(join(bin, 'service'), `#!/bin/sh\necho "service $*" >> ${dir}/calls\n`);
      await chmod(join(bin, 'service'), 0o755);
      const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
      for (const [flavor, setup] of [
        ['sysv-debian', ': > /etc/init/web.conf'],
        ['sysv-debian', 'mkdir -p /run/openrc/started'],
        ['sysv-redhat', ''],
      ] as const) {
        await writeFile(join(dir, 'calls'), '');
        const body = `${initLogging(join(dir, 'init.log'))}\n${setup.includes('openrc') ? 'mount -t tmpfs tmpfs /run && ' : ''}${setup}\n${runScript(flavor, 'web', 'start').text}`;
        const r = await inPrivateEtc(body, env);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(await readFile(join(dir, 'calls'), 'utf8'), 'service web start\n', `${flavor} ${setup}`);
      }
    } finally {
      await cleanup();
    }
  });
});

describe('cleanExec: the environment env -i gives, without starting env', () => {
  // A value whose later lines look like export lines, a name the loop itself uses, no TERM, and a
  // secret that must not reach the command.
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    MULTI: 'a\nexport NOTREAL=1\ndeclare -x ALSO=2\nb',
    _l: 'loop variable',
    SECRET_TOKEN: 'x',
    HOME: '/root',
    LANG: 'C.UTF-8',
  };
  for (const shell of [['/bin/sh'], ['bash', '--posix'], ['bash']] as const) {
    it(`${shell.join(' ')}: the command sees exactly LC_ALL=C, PATH and TERM, and keeps its exit code`, () => {
      for (const term of [undefined, 'xterm'] as const) {
        const e: Record<string, string> = term ? { ...env, TERM: term } : { ...env };
        const run = (argv: readonly string[], script: string) => spawnSync(argv[0]!, [...argv.slice(1), '-c', script], { env: e, encoding: 'utf8' });
        // The command: a shell that prints its environment and exits 7 (what an init script's status may say).
        const want = run(shell, `env -i LC_ALL=C PATH="$PATH" TERM="$TERM" sh -c 'env; exit 7' | sort`);
        const got = run(shell, `${cleanExec(rawSh(`sh -c 'env; exit 7'`)).text}\necho "code=$?"`);
        assert.equal(got.status, 0, got.stderr);
        const lines = got.stdout.trim().split('\n');
        assert.equal(lines.pop(), 'code=7');
        assert.equal(`${lines.sort().join('\n')}\n`, want.stdout, `${shell.join(' ')} TERM=${term}`);
        assert.doesNotMatch(got.stdout, /SECRET_TOKEN|MULTI|_l=/);
      }
    });
    it(`${shell.join(' ')}: a readonly exported variable (it cannot be unset) does not stop the command`, () => {
      const script = `readonly RO=1; export RO\n${cleanExec(rawSh(`sh -c 'echo ran; exit 7'`)).text}\necho "code=$?"`;
      const got = spawnSync(shell[0]!, [...shell.slice(1), '-c', script], { env, encoding: 'utf8' });
      assert.equal(got.status, 0, got.stderr);
      assert.equal(got.stdout, 'ran\ncode=7\n');
    });
  }
});
