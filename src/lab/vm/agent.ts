// Controller side of the lab agent (see LAB_AGENT_SCRIPT): runs a shell script in a
// VM over its virtio-serial port, a unix socket on the controller. Works while the
// VM's sshd is stopped, which is what tests that break SSH need.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import type { ExecResult } from '../../core/types.js';
import { execResult } from '../../core/host-output.js';
import { LabError, LabTimeoutError } from '../errors.js';

// One request at a time per socket: the agent is a sequential loop.
const queues = new Map<string, Promise<unknown>>();

export function agentExec(socketPath: string, script: string, opts: { timeoutMs?: number; host?: string } = {}): Promise<ExecResult> {
  const prev = queues.get(socketPath) ?? Promise.resolve();
  const next = prev.catch(() => {}).then(() => request(socketPath, script, opts.timeoutMs ?? 60_000, opts.host));
  queues.set(socketPath, next);
  return next;
}

function request(socketPath: string, script: string, timeoutMs: number, host?: string): Promise<ExecResult> {
  const id = randomBytes(6).toString('hex');
  const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    let buf = '';
    let settled = false;
    const finish = (err: Error | null, res?: ExecResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    // The guest's own timeout fires first; this one covers a dead or not-yet-started agent.
    const timer = setTimeout(
      () => finish(new LabTimeoutError(`lab agent did not answer within ${timeoutMs + 5000} ms`, { host, path: socketPath, command: script })),
      timeoutMs + 5000,
    );
    sock.setEncoding('latin1');
    sock.on('connect', () => sock.write(`${id} ${secs} ${Buffer.from(script).toString('base64')}\n`));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        const [rid, code, out, err] = line.split(' ');
        if (rid !== id) continue; // an answer to an earlier, abandoned request
        if (code === undefined || out?.[0] !== 'x' || err?.[0] !== 'x') {
          finish(new LabError(`malformed lab agent reply`, { host, path: socketPath, reply: line.slice(0, 200) }));
          return;
        }
        finish(null, execResult(Number(code), Buffer.from(out.slice(1), 'base64'), Buffer.from(err.slice(1), 'base64').toString('utf8')));
      }
    });
    sock.on('error', (e) => finish(new LabError(`lab agent socket: ${e.message}`, { host, path: socketPath }, { cause: e })));
    sock.on('close', () => finish(new LabError('lab agent socket closed before the reply', { host, path: socketPath })));
  });
}
