// Two operators at once: a run that changes hosts (up, drain, undrain, rollback) holds a lock in
// the controller's state dir and one on each host (/var/lib/provision/lock). Both are directories
// made with mkdir (atomic: exactly one creator wins) holding an owner record; a second run is
// refused with who holds the lock and since when. A lock whose holder was on this controller and
// whose process is gone (killed, Ctrl-C before cleanup) is stale and taken over.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hostname, userInfo } from 'node:os';
import { type Script, sh } from './shell.js';
import { EXIT, ProvisionError } from './provision-error.js';
import type { Connection } from './types.js';

export interface LockOwner {
  user: string;
  controller: string;
  pid: number;
  operation: string;
  since: string;
  run?: string;
}

export class LockError extends ProvisionError {
  readonly exitCode = EXIT.failed;
  constructor(
    readonly where: string,
    readonly owner: LockOwner | undefined,
  ) {
    super(
      `${where} is locked${owner ? ` by ${describeOwner(owner)}` : ' (no owner record)'}: another run is in progress; wait for it${owner ? '' : ', or remove the lock if no run is going on'}`,
    );
  }
}

export const describeOwner = (o: LockOwner) => `${o.user}@${o.controller} (pid ${o.pid}, ${o.operation}${o.run ? `, run ${o.run}` : ''}) since ${o.since}`;

export function lockOwner(operation: string, run?: string): LockOwner {
  return { user: userInfo().username, controller: hostname(), pid: process.pid, operation, since: new Date().toISOString(), ...(run ? { run } : {}) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when `o` was held by a process of this controller that no longer runs. */
export const isStale = (o: LockOwner | undefined) => !!o && o.controller === hostname() && !alive(o.pid);

export interface HeldLock {
  release(): void;
}

/** The controller lock: `<stateDir>/lock/owner.json`. Throws LockError when another live run holds it. */
export function acquireControllerLock(stateDir: string, owner: LockOwner): HeldLock {
  const dir = join(stateDir, 'lock');
  mkdirSync(stateDir, { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'owner.json'), `${JSON.stringify(owner, null, 2)}\n`);
      let released = false;
      return {
        release: () => {
          if (!released) {
            released = true;
            rmSync(dir, { recursive: true, force: true });
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let held: LockOwner | undefined;
      try {
        held = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as LockOwner;
      } catch {
        /* being written, or none */
      }
      if (attempt === 0 && isStale(held)) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      throw new LockError(`the state dir ${stateDir}`, held);
    }
  }
}

export const HOST_LOCK = '/var/lib/provision/lock';
const HELD = '#provision-lock held';
const GOT = '#provision-lock acquired';

/** Shell that takes the host lock (prints GOT and writes our record) or prints HELD and the holder's record. */
export function hostLockScript(owner: LockOwner, dir = HOST_LOCK): Script {
  const rec = JSON.stringify(owner);
  return sh`mkdir -p ${dirname(dir)}
if mkdir ${dir} 2>/dev/null; then printf '%s\\n' ${rec} > ${`${dir}/owner.json`}; echo ${GOT}
else echo ${HELD}; cat ${`${dir}/owner.json`} 2>/dev/null; fi`;
}

// A run takes each host's lock in its first round trip (with the facts and probes, no round trip of
// its own) and holds it until its last script, which releases it with the journal's mirror; a run
// that changed nothing releases it in one more round trip. So a second run on the host, from this
// controller or another, is refused for as long as the first runs, whatever the first one finds.

/** Parses hostLockScript's output: acquired, or the holder's record. */
export function parseHostLock(stdout: string): { acquired: true } | { acquired: false; owner?: LockOwner } {
  if (stdout.includes(GOT)) return { acquired: true };
  const body = stdout.slice(stdout.indexOf(HELD) + HELD.length).trim();
  try {
    return { acquired: false, owner: JSON.parse(body) as LockOwner };
  } catch {
    return { acquired: false };
  }
}

/** Removes the host lock only if it is still ours (same controller, pid and time). */
export function hostUnlockScript(owner: LockOwner, dir = HOST_LOCK): Script {
  return sh`[ "$(cat ${`${dir}/owner.json`} 2>/dev/null)" = ${JSON.stringify(owner)} ] && rm -rf ${dir}; true`;
}

/** Takes over a stale host lock (its holder ran on this controller and is gone): the same guarded removal. */
export const hostBreakScript = hostUnlockScript;

/** Takes the host lock over `conn` (a stale one of this controller is taken over once); throws LockError naming the holder. */
export async function acquireHostLock(conn: Connection, owner: LockOwner, dir = HOST_LOCK): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const got = parseHostLock((await conn.exec(hostLockScript(owner, dir), { become: true })).stdout);
    if (got.acquired) return;
    if (attempt === 0 && isStale(got.owner)) {
      await conn.exec(hostBreakScript(got.owner!, dir), { become: true });
      continue;
    }
    throw new LockError(`${conn.host}:${dir}`, got.owner);
  }
}

/**
 * Wraps `connect` so each connection holds its host's lock from the moment it opens until it is
 * closed (released in the same channel, just before). For commands that reach hosts outside the
 * engine (rollback): a second up/drain/rollback on those hosts meanwhile is refused.
 */
export function lockingConnect<H>(connect: (h: H) => Promise<Connection>, owner: LockOwner, dir = HOST_LOCK): (h: H) => Promise<Connection> {
  return async (h) => {
    const conn = await connect(h);
    try {
      await acquireHostLock(conn, owner, dir);
    } catch (e) {
      await conn.close().catch(() => {});
      throw e;
    }
    let closed = false;
    return {
      host: conn.host,
      exec: (script, opts) => conn.exec(script, opts),
      upload: (a, b, m) => conn.upload(a, b, m),
      close: async () => {
        if (closed) return;
        closed = true;
        await conn.exec(hostUnlockScript(owner, dir), { become: true }).catch(() => undefined);
        await conn.close();
      },
    };
  };
}

/** Cleanups to run when the operator presses Ctrl-C (journal marked interrupted, locks released). */
const onInterrupt = new Set<() => void>();
let installed = false;
export function whileInterruptible<T>(cleanup: () => void, f: () => Promise<T>): Promise<T> {
  if (!installed) {
    installed = true;
    const handler = (sig: NodeJS.Signals) => {
      for (const c of [...onInterrupt].reverse()) {
        try {
          c();
        } catch {
          /* best effort on the way out */
        }
      }
      process.stderr.write(`\nprovision: stopped by ${sig}; the journal records what was done (\`provision rollback\` undoes it)\n`);
      process.exit(130);
    };
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
  }
  onInterrupt.add(cleanup);
  return f().finally(() => onInterrupt.delete(cleanup));
}
