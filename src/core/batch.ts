// Runs many probes in one round trip, each output framed by markers that carry a per-run random
// nonce, so no probe output can forge a frame. Reads that several probes share (SharedReader: every
// file of a host) run once, for all of them. A probe runs in a subshell of its own unless it is
// `inline` (every shared read is): those run in the batch's own shell (a subshell is a fork, ~2 ms
// of a host's CPU), after every subshell frame.
import { randomBytes } from 'node:crypto';
import type { Probe, ProbeOutput, SharedRead, SharedReader } from './types.js';
import { Script, raw, sh } from './shell.js';
import { EXIT, ProvisionError } from './provision-error.js';
import { HostOutput } from './host-output.js';

/** A batch's output was cut short: no probe state can be trusted. */
export class ProbeOutputError extends ProvisionError {
  readonly exitCode = EXIT.failed;
}

export interface BatchScript {
  script: Script;
  /** Each probe's output: from the bytes the host sent (ExecResult.stdoutBytes), or from text. */
  split(stdout: string | Buffer): ProbeOutput[];
}

/**
 * A plain script (its own subshell), or a probe: `inline` (see Probe.inline; `{ script, inline: true }`
 * for a plain script such as the facts) and shared reads the batch may do together.
 */
export type ProbeItem = Script | Pick<Probe<unknown>, 'script' | 'shared' | 'inline'>;

interface Frame {
  script: Script;
  inline: boolean;
}

export function batchProbes(items: readonly ProbeItem[]): BatchScript {
  const nonce = `__provision_${randomBytes(8).toString('hex')}`;
  // Nothing is asked twice: a script that appears again (a service's task and its restart handler
  // read the same lines) runs once, and its output is given to each.
  const first = new Map<string, number>();
  const unique: Pick<Probe<unknown>, 'script' | 'shared' | 'inline'>[] = [];
  const slot = items.map((it) => {
    const probe = it instanceof Script ? { script: it } : it;
    let k = first.get(probe.script.text);
    if (k === undefined) {
      k = unique.push(probe) - 1;
      first.set(probe.script.text, k);
    }
    return k;
  });
  const frames: Frame[] = [];
  // Per unique item: its own frame (or none), and per shared read the reader and the key's place.
  const own: (number | null)[] = [];
  const readers = new Map<SharedReader, string[]>();
  for (const p of unique) {
    if (!p.shared) {
      own.push(frames.push({ script: p.script, inline: !!p.inline }) - 1);
      continue;
    }
    own.push(p.shared.own ? frames.push({ script: p.shared.own, inline: !!p.inline }) - 1 : null);
    for (const r of p.shared.reads) {
      const keys = readers.get(r.reader) ?? [];
      if (!keys.includes(r.key)) keys.push(r.key);
      readers.set(r.reader, keys);
    }
  }
  const readerFrame = new Map<SharedReader, number>();
  for (const [reader, keys] of readers) readerFrame.set(reader, frames.push({ script: reader.script(keys), inline: true }) - 1);
  // Subshell frames first, in order: an inline frame's variables and functions never reach them.
  const order = [...frames.keys()].sort((a, b) => Number(frames[a]!.inline) - Number(frames[b]!.inline));
  const parts = order.map((k, i) => {
    const f = frames[k]!.script;
    const body = frames[k]!.inline ? sh`{ ${f}\n}` : sh`( ${f}\n)`;
    return sh`printf '%s %d begin\\n' ${nonce} ${i}\n${body} </dev/null 2>/dev/null\nprintf '\\n%s %d end %d\\n' ${nonce} ${i} $?`;
  });
  return {
    script: Script.join([...parts, raw('')], '\n'),
    split(stdout: string | Buffer): ProbeOutput[] {
      const ran = splitFrames(new HostOutput(stdout), nonce, frames.length);
      const outs: RanFrame[] = [];
      order.forEach((k, i) => (outs[k] = ran[i]!));
      const read = new Map<SharedReader, Map<string, string>>();
      for (const [reader, keys] of readers) {
        const o = outs[readerFrame.get(reader)!]!;
        const texts = reader.split(o.stdout, keys, o.bytes);
        read.set(reader, new Map(keys.map((k, i) => [k, texts[i] ?? ''])));
      }
      const whole = unique.map((p, i): ProbeOutput => {
        const o = own[i] === null ? { stdout: '', code: 0 } : outs[own[i]!]!;
        if (!p.shared) return { stdout: o.stdout, code: o.code };
        // The probe's script prints its own lines, then each read's lines with their prefix; it exits 0.
        let text = o.stdout;
        for (const r of p.shared.reads) text += prefixed(read.get(r.reader)!.get(r.key)!, r.prefix);
        return { stdout: text, code: 0 };
      });
      return slot.map((k) => ({ ...whole[k]! }));
    },
  };
}

/**
 * A probe's script made of `own` (printed first, null: nothing) and shared reads (each key's own
 * script), with the same parts for a batch to do every probe's reads of a kind at once.
 */
export function sharedProbe(own: Script | null, reads: readonly SharedRead[]): Pick<Probe<unknown>, 'script' | 'shared'> {
  const scripts = [...(own ? [own] : []), ...reads.map((r) => r.reader.one(r.key, r.prefix))];
  return { script: Script.join(scripts, '\n'), shared: { own, reads } };
}

function prefixed(text: string, prefix: string): string {
  if (prefix === '') return text;
  return text.replace(/^(?=.)/gm, prefix);
}

/** A frame's output, with its bytes for the readers that print file contents raw. */
interface RanFrame extends ProbeOutput {
  bytes: Buffer;
}

function splitFrames(out: HostOutput, nonce: string, count: number): RanFrame[] {
  let pos = 0;
  const outs: RanFrame[] = [];
  for (let i = 0; i < count; i++) {
    const f = out.frame(`${nonce} ${i} begin\n`, `\n${nonce} ${i} end `, pos);
    if (f === 'missing') throw new ProbeOutputError(`probe ${i} produced no output frame (the host's shell stopped early)`);
    if (f === 'open') throw new ProbeOutputError(`probe ${i} output frame is not closed`);
    pos = f.next;
    outs.push({ stdout: f.text, code: Number.isNaN(f.code) ? 255 : f.code, bytes: f.bytes });
  }
  return outs;
}
