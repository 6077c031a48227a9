// ed25519 key pairs made with ssh-keygen: the controller's per-lab key and each host's own host key.
import { readFile, rm } from 'node:fs/promises';
import { run } from './run.js';

/** Creates `path` (0600) and `path.pub`; returns the public key line without its comment. */
export async function generateKey(path: string, comment: string): Promise<string> {
  await rm(path, { force: true });
  await rm(`${path}.pub`, { force: true });
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  return publicKeyOf(path);
}

export async function publicKeyOf(path: string): Promise<string> {
  const [type, key] = (await readFile(`${path}.pub`, 'utf8')).trim().split(/\s+/);
  return `${type} ${key}`;
}
