// Where labs live by default: the user's state directory, never the package (which may be under
// node_modules) and not the project (a lab holds keys, disks and sockets, not team files).
// $PROVISION_LAB_DIR overrides it (this repository's tests and demo point it at .lab/);
// `--lab-dir` overrides both.
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

export function defaultLabBaseDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PROVISION_LAB_DIR) return resolve(env.PROVISION_LAB_DIR);
  // XDG: a relative XDG_STATE_HOME is invalid and must be ignored.
  const state = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(state, 'provision', 'labs');
}
