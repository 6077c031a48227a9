// service: a service enabled at boot and/or running, per init system (facts.init).
// systemd: systemctl. sysv Debian: update-rc.d, enabled = an S link in /etc/rc2.d (default runlevel).
// sysv Red Hat: chkconfig, enabled = "3:on". Running = `service NAME status` exit 0 (LSB), falling
// back to /etc/init.d/NAME when `service` is missing (lab containers run sysv scripts directly).
import type { Evidence, Footprint, HostFacts, PlannedChange, Probe, Step, Task } from '../core/types.js';
import { fileKey } from '../core/footprint.js';
import { SBIN_PATH, type Script, raw, sh } from '../core/shell.js';
import { ModuleError } from './errors.js';
import { SYSTEMD_RUNNING } from './systemd-read.js';
import { sharedProbe } from '../core/batch.js';
import { KeyValues, checkName, meta, type TaskMeta } from './util.js';

export interface ServiceOptions extends TaskMeta {
  name: string;
  enabled?: boolean;
  running?: boolean;
  /**
   * For use as a handler (the engine runs handlers only when notified): a running service is
   * restarted; a stopped one is started when `running` is not false.
   */
  restartOnNotify?: boolean;
}

export type ServiceFlavor = 'systemd' | 'sysv-debian' | 'sysv-redhat';

export interface ServiceState {
  flavor: ServiceFlavor;
  enabled: boolean;
  running: boolean;
  /** systemd: the is-enabled word ("enabled", "disabled", "masked", "" when unknown). */
  enabledRaw: string;
  /** sysv: the service has boot links at all (S or K; chkconfig knows it). Undo of an enable returns to exactly this. */
  registered: boolean;
}

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@-]*$/;
const SYSTEMD_ENABLED = new Set(['enabled', 'enabled-runtime', 'static', 'indirect', 'generated', 'alias']);

export function serviceFlavor(facts: HostFacts, name: string): ServiceFlavor {
  if (facts.init === 'systemd') return 'systemd';
  if (facts.os.family === 'debian') return 'sysv-debian';
  if (facts.os.family === 'redhat') return 'sysv-redhat';
  throw new ModuleError('service', `cannot manage ${name}: sysv host of unknown OS family`);
}

/** sysv status/start/stop/restart: `service` when present, else the init script itself. */
function sysvAction(name: string, action: string): Script {
  return sh`if command -v service >/dev/null 2>&1; then service ${name} ${action}; else ${`/etc/init.d/${name}`} ${action}; fi`;
}

/**
 * Whether a sysv service runs (exit 0). On Debian without systemd, `service` only runs the init
 * script with a clean environment (after two basenames and a shell of its own): the probe does
 * that itself. An upstart job (/etc/init/NAME.conf, old Ubuntu) still goes through `service`, which
 * asks initctl; Red Hat's `service` stays as it is.
 */
function sysvStatus(name: string, flavor: ServiceFlavor): Script {
  if (flavor !== 'sysv-debian') return sysvAction(name, 'status');
  const script = `/etc/init.d/${name}`;
  return sh`if [ -x ${script} ] && [ ! -e ${`/etc/init/${name}.conf`} ]; then ${cleanExec(sh`${script} status`)}; else ${sysvAction(name, 'status')}; fi`;
}

/**
 * Runs `command` with only LC_ALL=C, PATH and TERM in its environment, as \`env -i LC_ALL=C
 * PATH="$PATH" TERM="$TERM"\` would, without starting env (a process per probe, and processes are
 * what a probe batch costs): a subshell unsets every exported variable (`export -p` names each at
 * the start of a line, "export " or bash's "declare -x "; a value's later lines may look like one,
 * and unsetting such a name is harmless: every variable is going) and execs the command.
 * PATH and TERM wait in the positional parameters, which no unset reaches. `command unset`: a
 * readonly variable cannot go, and a special builtin's error would end dash's subshell before the
 * command ran (so the service would look stopped); such a variable stays, the command still runs.
 */
export function cleanExec(command: Script, kept?: readonly string[]): Script {
  if (!kept) return envOnly(command, raw('"$PATH" "$TERM"'), raw('LC_ALL=C PATH=$1 TERM=$2; export LC_ALL PATH TERM'));
  // `kept` becomes shell text: names only (each set again to its value, if empty, as env -i NAME="$NAME" does).
  for (const v of kept) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) throw new ModuleError('service', `not a variable name: ${JSON.stringify(v)}`);
  const saved = raw(kept.map((v) => `"$${v}"`).join(' '));
  return envOnly(command, saved, raw(`${kept.map((v, i) => `${v}=\${${i + 1}}`).join(' ')}; export ${kept.join(' ')}`));
}

/** cleanExec's subshell: `saved` values wait in the positional parameters while every exported variable goes; `restored` sets them again. */
function envOnly(command: Script, saved: Script, restored: Script): Script {
  return sh`(set -- ${saved}
_e=$(export -p)
while IFS= read -r _l; do case $_l in 'export '* | 'declare -x '*) _l=\${_l#export }; _l=\${_l#declare -x }; command unset "\${_l%%=*}" 2>/dev/null ;; esac; done <<_E
$_e
_E
${restored}
exec ${command})`;
}

/** What Debian's `service` hands an init script: `env -i LANG="$LANG" … LC_ALL="$LC_ALL" PATH="$PATH" TERM="$TERM"`. */
export const SERVICE_ENV = [
  'LANG',
  'LANGUAGE',
  'LC_CTYPE',
  'LC_NUMERIC',
  'LC_TIME',
  'LC_COLLATE',
  'LC_MONETARY',
  'LC_MESSAGES',
  'LC_PAPER',
  'LC_NAME',
  'LC_ADDRESS',
  'LC_TELEPHONE',
  'LC_MEASUREMENT',
  'LC_IDENTIFICATION',
  'LC_ALL',
  'PATH',
  'TERM',
] as const;

/**
 * A sysv start, stop or restart. On Debian without systemd, `service` runs the init script from /
 * with the environment SERVICE_ENV names (after two basenames and a shell of its own, ~20 ms of a
 * lab host's CPU): provision does that itself. An upstart job, an OpenRC host (whose `service`
 * also keeps /run/openrc/started) and Red Hat go through `service`.
 */
function sysvRun(name: string, flavor: ServiceFlavor, action: 'start' | 'stop' | 'restart'): Script {
  if (flavor !== 'sysv-debian') return sysvAction(name, action);
  const script = `/etc/init.d/${name}`;
  return sh`if [ -x ${script} ] && [ ! -e ${`/etc/init/${name}.conf`} ] && [ ! -d /run/openrc/started ]; then cd / && ${cleanExec(sh`${script} ${action}`, SERVICE_ENV)}; else ${sysvAction(name, action)}; fi`;
}

/** The lines a service's state is read by: `registered=…`, `enabled=…` and `running=…` (probe and evidence share them). */
function stateLines(name: string, flavor: ServiceFlavor): { registered: Script; enabled: Script; running: Script } {
  const n = name;
  const registered =
    flavor === 'sysv-debian'
      ? sh`set -- /etc/rc[0-6S].d/[SK][0-9][0-9]${n}; if [ -e "$1" ]; then echo registered=1; else echo registered=0; fi`
      : flavor === 'sysv-redhat'
        ? sh`if chkconfig --list ${n} >/dev/null 2>&1; then echo registered=1; else echo registered=0; fi`
        : raw('echo registered=1');
  const running =
    flavor === 'systemd'
      ? sh`if systemctl is-active --quiet ${n}; then echo running=1; else echo running=0; fi`
      : sh`if { ${sysvStatus(name, flavor)}; } >/dev/null 2>&1 </dev/null; then echo running=1; else echo running=0; fi`;
  const enabled =
    flavor === 'systemd'
      ? // The first word of is-enabled's answer ("" when it prints nothing); no pipe: one process less.
        sh`set -- $(systemctl is-enabled ${n} 2>/dev/null); echo "enabled=$1"`
      : flavor === 'sysv-debian'
        ? sh`set -- /etc/rc2.d/S[0-9][0-9]${n}; if [ -e "$1" ]; then echo enabled=1; else echo enabled=0; fi`
        : // chkconfig --list NAME: "NAME 0:off 1:off 2:on 3:on 4:on 5:on 6:off"; no chkconfig: rc3.d links.
          sh`if command -v chkconfig >/dev/null 2>&1; then
  if chkconfig --list ${n} 2>/dev/null | grep -q '[[:space:]]3:on'; then echo enabled=1; else echo enabled=0; fi
else set -- /etc/rc3.d/S[0-9][0-9]${n}; if [ -e "$1" ]; then echo enabled=1; else echo enabled=0; fi; fi`;
  return { registered, enabled, running };
}

/**
 * Evidence of a service change: the state lines it changes, as the probe prints them. Volatile: a
 * service stops or is restarted by others, so it only tells rollback a pending change that never
 * ran (before-state). An enable also registers the service (boot links, chkconfig --add): its
 * evidence is both lines, so the engine can tell what a later probe of the service will read.
 */
function serviceEvidence(name: string, state: ServiceState, line: 'enabled' | 'running', after: boolean): Evidence {
  const word = (on: boolean) => (on ? '1' : '0');
  const before = line === 'running' ? word(state.running) : state.flavor === 'systemd' ? state.enabledRaw : word(state.enabled);
  const want = line === 'running' || state.flavor !== 'systemd' ? word(after) : after ? 'enabled' : 'disabled';
  const lines = stateLines(name, state.flavor);
  const enabling = line === 'enabled' && after;
  return {
    what: `service ${name} ${line}`,
    check: enabling
      ? sh`${SBIN_PATH}
${lines.registered}
${lines.enabled}`
      : sh`${SBIN_PATH}
${lines[line]}`,
    after: `${enabling ? 'registered=1\n' : ''}${line}=${want}\n`,
    before: `${enabling ? `registered=${word(state.registered)}\n` : ''}${line}=${before}\n`,
    volatile: true,
  };
}

export function serviceProbe(name: string, flavor: ServiceFlavor): Probe<ServiceState> {
  const { registered, enabled, running } = stateLines(name, flavor);
  // systemd: whether it runs is read with every other unit's (one systemctl is-active per batch).
  const parts =
    flavor === 'systemd'
      ? sharedProbe(sh`${SBIN_PATH}\n${registered}\n${enabled}`, [{ reader: SYSTEMD_RUNNING, key: name, prefix: '' }])
      : { script: sh`${SBIN_PATH}\n${registered}\n${enabled}\n${running}` };
  return {
    ...parts,
    // Nothing but PATH (exported as it was, with the sbin dirs) and $@ is set: safe in a batch's shell.
    inline: true,
    blank: 'registered=0\nenabled=0\nrunning=0',
    parse(out) {
      const kv = new KeyValues(out.stdout);
      const en = kv.get('enabled');
      const run = kv.get('running');
      if (en === undefined || run === undefined) throw new ModuleError('service', `probe of ${name} printed no state`);
      return {
        flavor,
        enabled: flavor === 'systemd' ? SYSTEMD_ENABLED.has(en) : en === '1',
        running: run === '1',
        enabledRaw: en,
        registered: kv.get('registered') !== '0',
      };
    },
  };
}

/**
 * What a service probe reads: the service, its init script, unit directories and rc links. A file
 * written elsewhere (a config) does not change whether the service is enabled or running, so it
 * does not make this probe stale; starting or stopping anything may change anything ("*").
 */
export function serviceFootprint(name: string, ...extraReads: string[]): Footprint {
  const dirs = [
    '/etc/systemd/system',
    '/lib/systemd/system',
    '/usr/lib/systemd/system',
    '/run/systemd',
    '/etc/rc.d',
    ...['0', '1', '2', '3', '4', '5', '6', 'S'].map((r) => `/etc/rc${r}.d`),
  ];
  return { reads: [`service:${name}`, fileKey(`/etc/init.d/${name}`), ...dirs.map(fileKey), ...extraReads], writes: ['*'] };
}

function exec(script: Script): Step {
  return { kind: 'exec', script: sh`${SBIN_PATH}\n${script}` };
}

export function enableScript(flavor: ServiceFlavor, name: string, on: boolean): Script {
  const n = name;
  switch (flavor) {
    case 'systemd':
      return sh`systemctl ${on ? 'enable' : 'disable'} ${n}`;
    case 'sysv-debian':
      // `defaults` does nothing when K links exist (disabled earlier): then `enable` turns them to S.
      // Old sysv-rc lacks enable/disable; remove is the fallback for disabling.
      return on
        ? sh`update-rc.d ${n} defaults >/dev/null && { set -- /etc/rc2.d/S[0-9][0-9]${n}; [ -e "$1" ] || update-rc.d ${n} enable; }`
        : sh`update-rc.d ${n} disable 2>/dev/null || update-rc.d -f ${n} remove`;
    case 'sysv-redhat':
      return on ? sh`chkconfig --add ${n} && chkconfig ${n} on` : sh`chkconfig ${n} off`;
  }
}

/** Removes every boot link (the state before the service was ever enabled). */
export function unregisterScript(flavor: ServiceFlavor, name: string): Script {
  return flavor === 'sysv-redhat' ? sh`chkconfig --del ${name}` : sh`update-rc.d -f ${name} remove`;
}

export function runScript(flavor: ServiceFlavor, name: string, action: 'start' | 'stop' | 'restart'): Script {
  if (flavor !== 'systemd') return sysvRun(name, flavor, action);
  // A daemon that exits non-zero on SIGTERM leaves the unit "failed"; a stop (or its undo) means "inactive".
  return action === 'stop' ? sh`systemctl stop ${name} && { systemctl reset-failed ${name} 2>/dev/null || true; }` : sh`systemctl ${action} ${name}`;
}

export function planService(name: string, want: { enabled?: boolean; running?: boolean; restartOnNotify?: boolean }, state: ServiceState): PlannedChange[] {
  const changes: PlannedChange[] = [];
  const before = { service: name, enabled: state.enabled, running: state.running };
  if (want.enabled !== undefined && want.enabled !== state.enabled) {
    const verb = want.enabled ? 'enable' : 'disable';
    changes.push({
      summary: `${verb} service ${name} at boot`,
      reason: `${name} is ${state.enabled ? 'enabled' : `not enabled${state.enabledRaw && state.flavor === 'systemd' ? ` (${state.enabledRaw})` : ''}`}`,
      diff: `-enabled ${state.enabled}\n+enabled ${want.enabled}`,
      apply: [exec(enableScript(state.flavor, name, want.enabled))],
      undo: [exec(state.registered || state.flavor === 'systemd' ? enableScript(state.flavor, name, state.enabled) : unregisterScript(state.flavor, name))],
      before,
      after: { ...before, enabled: want.enabled },
      evidence: serviceEvidence(name, state, 'enabled', want.enabled),
    });
  }
  const runningAfter = changes.length ? { ...before, enabled: want.enabled ?? state.enabled } : before;
  if (want.running !== undefined && want.running !== state.running) {
    const action = want.running ? 'start' : 'stop';
    changes.push({
      summary: `${action} service ${name}`,
      reason: `${name} is ${state.running ? 'running' : 'not running'}`,
      diff: `-running ${state.running}\n+running ${want.running}`,
      apply: [exec(runScript(state.flavor, name, action))],
      undo: [exec(runScript(state.flavor, name, want.running ? 'stop' : 'start'))],
      before,
      after: { ...runningAfter, running: want.running },
      evidence: serviceEvidence(name, state, 'running', want.running),
    });
  } else if (want.restartOnNotify && state.running && want.running !== false) {
    changes.push({
      summary: `restart service ${name} (no undo: a restart cannot be taken back)`,
      reason: 'notified',
      apply: [exec(runScript(state.flavor, name, 'restart'))],
      before,
      after: { ...runningAfter, running: true },
    });
  } else if (want.restartOnNotify && !state.running && want.running === undefined) {
    changes.push({
      summary: `start service ${name}`,
      reason: 'notified, not running',
      apply: [exec(runScript(state.flavor, name, 'start'))],
      undo: [exec(runScript(state.flavor, name, 'stop'))],
      before,
      after: { ...runningAfter, running: true },
      evidence: serviceEvidence(name, state, 'running', true),
    });
  }
  return changes;
}

export function service(opts: ServiceOptions): Task<ServiceState> {
  const name = checkName('service', 'service name', opts.name, NAME_RE);
  const want = {
    ...(opts.enabled !== undefined ? { enabled: opts.enabled } : {}),
    ...(opts.running !== undefined ? { running: opts.running } : {}),
    ...(opts.restartOnNotify ? { restartOnNotify: true } : {}),
  };
  return {
    ...meta(`service ${name}`, opts),
    module: 'service',
    probe: (ctx) => serviceProbe(name, serviceFlavor(ctx.facts, name)),
    footprint: () => serviceFootprint(name),
    plan: (state) => planService(name, want, state),
  };
}

/**
 * A handler task with try-restart semantics: a running service is restarted so it reads its new
 * configuration; a stopped one is left stopped (it reads the configuration when it starts). This
 * is what a rollback needs too: restoring mon's config must not start a mon the rollback stopped.
 */
export function serviceRestart(opts: TaskMeta & { name: string; service?: string }): Task<ServiceState> {
  // `name` names the service unless `service` is given (then `name` is the handler's label).
  const svc = checkName('service', 'service name', opts.service ?? opts.name, NAME_RE);
  return {
    ...meta(`restart ${svc}`, opts.service ? opts : { ...opts, name: `restart ${svc}` }),
    module: 'serviceRestart',
    probe: (ctx) => serviceProbe(svc, serviceFlavor(ctx.facts, svc)),
    footprint: () => serviceFootprint(svc),
    plan: (state) =>
      state.running
        ? [
            {
              summary: `restart ${svc} (no undo: a restart cannot be taken back)`,
              reason: 'notified',
              apply: [exec(runScript(state.flavor, svc, 'restart'))],
              before: { service: svc, running: true },
            },
          ]
        : [],
  };
}

/**
 * A service provision set up earlier and no longer needs (the inventory moved a service to
 * another health monitor): stopped and disabled, but only when `ownedIf.path` contains
 * `ownedIf.marker` (our own config file), so a daemon someone else runs is never touched.
 */
export function retiredService(opts: TaskMeta & { name: string; ownedIf: { path: string; marker: string } }): Task<ServiceState & { owned: boolean }> {
  const name = checkName('service', 'service name', opts.name, NAME_RE);
  return {
    ...meta(`retire ${name}`, opts),
    module: 'service',
    footprint: () => serviceFootprint(name, fileKey(opts.ownedIf.path)),
    probe(ctx) {
      const flavor = serviceFlavor(ctx.facts, name);
      const p = serviceProbe(name, flavor);
      // The service itself is probed only when it is ours (this task runs on every director).
      return {
        script: sh`if grep -qF -- ${opts.ownedIf.marker} ${opts.ownedIf.path} 2>/dev/null; then echo owned=1\n${p.script}\nelse echo owned=0; fi`,
        inline: true,
        blank: 'owned=0',
        parse: (out) =>
          new KeyValues(out.stdout).get('owned') === '1'
            ? { ...p.parse(out), owned: true }
            : { flavor, enabled: false, running: false, enabledRaw: '', registered: false, owned: false },
      };
    },
    plan: (state) =>
      state.owned
        ? planService(name, { enabled: false, running: false }, state).map((c) => ({
            ...c,
            reason: `${c.reason}; no service needs ${name} any more (${opts.ownedIf.path} is provision's)`,
          }))
        : [],
  };
}
