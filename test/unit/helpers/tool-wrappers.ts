// Wrappers in front of a host's real tools, for tests that count what a script starts: each logs
// its name to `log`, runs its `act` line (a fault to inject), then execs the real tool.
import { execFileSync } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Writes the wrappers into `bin`; returns an environment whose PATH finds them first. */
export async function loggedTools(bin: string, log: string, tools: readonly string[], act: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  for (const t of tools) {
    const real = execFileSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).trim();
    await writeFile(join(bin, t), `#!/bin/sh\necho ${t} >> '${log}'\n${act[t] ?? ''}\nexec ${real} "$@"\n`);
    await chmod(join(bin, t), 0o755);
  }
  return { ...process.env, PATH: `${bin}:${process.env.PATH}` };
}
