// Runs a local system command without a shell (argv only) and captures its output.
import { sh } from '../core/shell.js';
import { spawn } from 'node:child_process';
import { LabCommandError, LabTimeoutError } from './errors.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  /** Return the result instead of throwing on a non-zero exit. */
  allowFail?: boolean;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export function commandLine(cmd: string, args: readonly string[]): string {
  return sh`${[cmd, ...args]}`.text;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const command = commandLine(cmd, args);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs)
        : undefined;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new LabCommandError(`cannot run ${cmd}: ${e.message}`, { command }, { cause: e }));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const res: RunResult = {
        code: code ?? 128 + (signal ? 9 : 0),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (timedOut) {
        reject(new LabTimeoutError(`${cmd} timed out after ${opts.timeoutMs} ms`, { command, stderr: res.stderr }));
      } else if (res.code !== 0 && !opts.allowFail) {
        reject(
          new LabCommandError(`${command} failed (exit ${res.code}): ${res.stderr.trim().split('\n').slice(-3).join(' | ')}`, {
            command,
            code: res.code,
            stderr: res.stderr,
          }),
        );
      } else {
        resolve(res);
      }
    });
    child.stdin.on('error', () => {}); // the command may exit before reading its input
    child.stdin.end(opts.input ?? '');
  });
}
