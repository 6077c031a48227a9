// Runs many probes in one round trip: each in its own subshell, its output framed by
// markers that carry a per-run random nonce, so no probe output can forge a frame.
import { randomBytes } from 'node:crypto';
import type { ProbeOutput } from './types.js';
import { Script, raw, sh } from './shell.js';
import { EXIT, ProvisionError } from './provision-error.js';

/** A batch's output was cut short: no probe state can be trusted. */
export class ProbeOutputError extends ProvisionError {
  readonly exitCode = EXIT.failed;
}

export interface BatchScript {
  script: Script;
  split(stdout: string): ProbeOutput[];
}

export function batchProbes(scripts: readonly Script[]): BatchScript {
  const nonce = `__provision_${randomBytes(8).toString('hex')}`;
  // Nothing is asked twice: a script that appears again (a service's task and its restart handler
  // read the same lines) runs once, and its output is given to each.
  const first = new Map<string, number>();
  const unique: Script[] = [];
  const slot = scripts.map((s) => {
    let k = first.get(s.text);
    if (k === undefined) {
      k = unique.push(s) - 1;
      first.set(s.text, k);
    }
    return k;
  });
  const parts = unique.map((s, i) => sh`printf '%s %d begin\\n' ${nonce} ${i}\n( ${s}\n) </dev/null 2>/dev/null\nprintf '\\n%s %d end %d\\n' ${nonce} ${i} $?`);
  return {
    script: Script.join([...parts, raw('')], '\n'),
    split(stdout: string): ProbeOutput[] {
      let pos = 0;
      const outs = unique.map((_, i) => {
        const begin = `${nonce} ${i} begin\n`;
        const start = stdout.indexOf(begin, pos);
        if (start < 0) throw new ProbeOutputError(`probe ${i} produced no output frame (the host's shell stopped early)`);
        const endMark = `\n${nonce} ${i} end `;
        const end = stdout.indexOf(endMark, start + begin.length);
        if (end < 0) throw new ProbeOutputError(`probe ${i} output frame is not closed`);
        const codeStart = end + endMark.length;
        const nl = stdout.indexOf('\n', codeStart);
        const code = Number.parseInt(stdout.slice(codeStart, nl < 0 ? undefined : nl), 10);
        pos = nl < 0 ? stdout.length : nl;
        return { stdout: stdout.slice(start + begin.length, end), code: Number.isNaN(code) ? 255 : code };
      });
      return slot.map((k) => ({ ...outs[k]! }));
    },
  };
}
