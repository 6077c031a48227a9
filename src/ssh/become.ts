// Builds the remote command line for one exec, with or without sudo. Every script first prints a
// start line on stderr (stripped again here) carrying its pid: with sudo it proves sudo let us in
// before any stdin is sent (so a password never leaks into the script), and on a timeout it tells
// us which process group to kill.
import { randomBytes } from 'node:crypto';
import { sh, type Script } from '../core/shell.js';

export interface CommandPlan {
  /** What goes over the wire as the exec request. */
  command: string;
  /** The script prints `${marker} <pid>` on stderr as its first act. */
  marker: string;
  /** sudo's password prompt (-S -p), present only when a password will be fed. */
  prompt?: string;
  sudo: boolean;
}

export function planCommand(script: Script, viaSudo: boolean, withPassword: boolean): CommandPlan {
  const tag = randomBytes(8).toString('hex');
  const marker = `provision-start-${tag}`;
  // The whole script travels as one quoted argument of sh -c.
  const inner = sh`printf '%s %s\\n' ${marker} "$$" >&2\n${script}`.text;
  if (!viaSudo) return { command: sh`/bin/sh -c ${inner}`.text, marker, sudo: false };
  if (!withPassword) return { command: sh`sudo -n -H /bin/sh -c ${inner}`.text, marker, sudo: true };
  const prompt = `[provision-sudo-${tag}] `;
  return { command: sh`sudo -S -p ${prompt} -H /bin/sh -c ${inner}`.text, marker, prompt, sudo: true };
}

export type StartEvent = 'prompt' | 'started';

/**
 * Holds stderr until the start line shows up, strips it and any sudo prompts, reports them.
 * Before the start line only sudo speaks (a few lines), so holding it is cheap.
 */
export class StartFilter {
  private pending = '';
  private started = false;
  /** Remote pid of the script's shell, once started. */
  pid: number | undefined;
  prompts = 0;

  constructor(
    private readonly marker: string,
    private readonly prompt: string | undefined,
    private readonly onEvent: (e: StartEvent) => void,
  ) {}

  get hasStarted(): boolean {
    return this.started;
  }

  /** Returns the stderr text to keep for the user. */
  push(chunk: string): string {
    if (this.started) return chunk;
    this.pending += chunk;
    const head = this.marker + ' ';
    for (;;) {
      const m = this.pending.indexOf(head);
      const p = this.prompt ? this.pending.indexOf(this.prompt) : -1;
      if (p >= 0 && (m < 0 || p < m)) {
        this.pending = this.pending.slice(0, p) + this.pending.slice(p + this.prompt!.length);
        this.prompts++;
        this.onEvent('prompt');
        continue;
      }
      if (m < 0) return '';
      const nl = this.pending.indexOf('\n', m);
      if (nl < 0) return ''; // start line split across chunks
      const pid = Number(this.pending.slice(m + head.length, nl));
      if (Number.isInteger(pid) && pid > 1) this.pid = pid;
      const out = this.pending.slice(0, m) + this.pending.slice(nl + 1);
      this.pending = '';
      this.started = true;
      this.onEvent('started');
      return out;
    }
  }

  /** Whatever is still held when the channel ends (what sudo said if the script never started). */
  flush(): string {
    const s = this.pending;
    this.pending = '';
    return s;
  }
}

/** Kills the process group of a timed-out script (its shell leads it: sshd/sudo start a new session). */
export function killScript(pid: number): Script {
  return sh`pg=$(ps -o pgid= -p ${pid} 2>/dev/null | tr -d ' '); if [ -n "$pg" ] && [ "$pg" -gt 1 ]; then kill -s KILL -- -"$pg"; else kill -s KILL ${pid}; fi 2>/dev/null; true`;
}
