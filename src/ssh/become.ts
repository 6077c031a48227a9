// Builds the remote command line for one exec, with or without sudo, and watches sudo's
// stderr so stdin is sent only once the script itself runs (a password never leaks into it).
import { randomBytes } from 'node:crypto';
import { q } from '../core/shell.js';

export interface BecomePlan {
  /** What goes over the wire as the exec request. */
  command: string;
  /** Present when the script runs under sudo. */
  sudo?: {
    /** Printed by the script on stderr the moment it starts (i.e. sudo let us in). */
    marker: string;
    /** sudo's password prompt (-S -p), present only when a password will be fed. */
    prompt?: string;
  };
}

export function planCommand(script: string, asRoot: boolean, withPassword: boolean): BecomePlan {
  if (!asRoot) return { command: `/bin/sh -c ${q(script)}` };
  const tag = randomBytes(8).toString('hex');
  const marker = `provision-become-ok-${tag}`;
  const inner = `printf '%s\\n' ${marker} >&2\n${script}`;
  if (!withPassword) return { command: `sudo -n -H /bin/sh -c ${q(inner)}`, sudo: { marker } };
  const prompt = `[provision-sudo-${tag}] `;
  return { command: `sudo -S -p ${q(prompt)} -H /bin/sh -c ${q(inner)}`, sudo: { marker, prompt } };
}

export type SudoEvent = 'prompt' | 'started';

/**
 * Filters stderr until the marker shows up: strips sudo's prompts and the marker, reports them.
 * Before the marker only sudo speaks (a few lines), so it is simply held until then.
 */
export class SudoStderrFilter {
  private pending = '';
  private started = false;
  prompts = 0;

  constructor(private readonly marker: string, private readonly prompt: string | undefined, private readonly onEvent: (e: SudoEvent) => void) {}

  get hasStarted(): boolean {
    return this.started;
  }

  /** Returns the stderr text to keep for the user. */
  push(chunk: string): string {
    if (this.started) return chunk;
    this.pending += chunk;
    const end = this.marker + '\n';
    for (;;) {
      const m = this.pending.indexOf(end);
      const p = this.prompt ? this.pending.indexOf(this.prompt) : -1;
      if (p >= 0 && (m < 0 || p < m)) {
        this.pending = this.pending.slice(0, p) + this.pending.slice(p + this.prompt!.length);
        this.prompts++;
        this.onEvent('prompt');
        continue;
      }
      if (m < 0) return '';
      const out = this.pending.slice(0, m) + this.pending.slice(m + end.length);
      this.pending = '';
      this.started = true;
      this.onEvent('started');
      return out;
    }
  }

  /** What sudo said when the script never started. */
  flush(): string {
    const s = this.pending;
    this.pending = '';
    return s;
  }
}
