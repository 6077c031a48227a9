// Runs the real `provision` binary (dist/src/cli.js) as a child process, as a user would.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function provision(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; signal?: AbortSignal } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        env: { ...process.env, NO_COLOR: '1', ...opts.env },
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
        cwd: opts.cwd,
        // Aborted (a failed test stopping a run it left going): SIGTERM, which the CLI handles like Ctrl-C.
        ...(opts.signal ? { signal: opts.signal, killSignal: 'SIGTERM' as const } : {}),
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}
