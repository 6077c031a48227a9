// --ask-pass: read the SSH password once from the terminal, echo off. It is handed to the SSH
// layer through an environment variable of this process only: never argv, never logs.
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { UsageError } from '../core/errors.js';

export const ASK_PASS_ENV = 'PROVISION_ASKED_PASSWORD';

export async function askPass(prompt = 'SSH password: '): Promise<void> {
  if (!process.stdin.isTTY) throw new UsageError('--ask-pass needs a terminal; set ansible_password_env to the name of an environment variable instead');
  let muted = false;
  const out = new Writable({
    write(chunk, _enc, cb) {
      if (!muted) process.stderr.write(chunk);
      cb();
    },
  });
  const rl = createInterface({ input: process.stdin, output: out, terminal: true });
  const answer = await new Promise<string>((resolve) => {
    rl.question(prompt, resolve);
    muted = true;
  });
  rl.close();
  process.stderr.write('\n');
  process.env[ASK_PASS_ENV] = answer;
}
