// One round trip for many changes of one host: the steps of every change that does not depend on
// another's result, in order, in ONE script, each step framed by nonce markers that carry its exit
// status, so the controller learns exactly which steps ran and succeeded (the journal settles a
// change only on its steps' success markers). All stdin (file contents, uploads, the journal
// mirror) travels as one stream, staged in a temp file and cut per step with dd (a regular file:
// `dd bs=N count=1` reads exactly N bytes, so each step gets its own bytes and no more).
//
// A task planned on a probe result that an earlier change of the same script may have altered is
// guarded: its probe runs again in the script, right before its steps, and when it prints anything
// else than what the plan was made from, the script stops there and prints the fresh probe output
// of every task that may be stale at that point (one round trip, not two). A step that fails stops
// the script at that step. After the last step the re-probes of later tasks run (the "tail").
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ProbeOutput, Step } from './types.js';
import { Script, raw, sh } from './shell.js';
import type { BatchScript } from './batch.js';
import { ProvisionError } from './provision-error.js';
import { HostOutput } from './host-output.js';

export interface GuardItem {
  kind: 'guard';
  /** The task whose probe is re-run. */
  task: number;
  expect: ProbeOutput;
  /** Tasks to re-probe when the guard fails (the guarded one first). */
  reprobe: number[];
}

export interface StepItem {
  kind: 'step';
  /** Index of the change in the batch (its steps share it). */
  change: number;
  step: Step;
}

export type BatchItem = GuardItem | StepItem;

export interface ApplyScriptInput {
  /** Probe scripts by task index (those guards and the tail use). */
  probes: ReadonlyMap<number, Script>;
  items: BatchItem[];
  /** Tasks re-probed after the last step. */
  tail: number[];
  /** The tail's probes as one batch (reads they share done once); without it each runs its own script. */
  tailBatch?: BatchScript;
  /** Runs after the tail (the journal mirror and the lock release), with its own stdin. */
  epilogue?: { script: Script; stdin?: Buffer };
}

export interface ApplyScript {
  script: Script;
  stdin?: Buffer;
  /** stdout: the bytes the host sent (ExecResult.stdoutBytes), or text. */
  parse(stdout: string | Buffer, stderr: string): ApplyResult;
}

export interface StepResult {
  change: number;
  /** Index of the step within the batch's items. */
  item: number;
  code: number;
  stdout: string;
  stderr: string;
}

export interface ApplyResult {
  /** Steps that reported an end marker, in order. */
  steps: StepResult[];
  /** The guard (task index) that found its probe changed: the script stopped there. */
  staleAt?: number;
  /** Fresh probe outputs (guard failure or tail) by task index. */
  probes: Map<number, ProbeOutput>;
  /** The tail ran (every step succeeded and every guard held). */
  complete: boolean;
  /** The epilogue reported success. */
  epilogue?: { code: number; stdout: string };
}

/** Expected probe output embedded in the script (a guard): above this it is cheaper to stop and re-probe. */
export const GUARD_LIMIT = 8 * 1024;

/**
 * Rough size a batch may reach before the engine cuts it: the script is one argument of `sh -c`
 * (Linux caps one argument at 128 KiB) and carries the probes its guards and tail run too.
 */
export const SCRIPT_BUDGET = 48 * 1024;

const fn = (k: number) => raw(`_pp${k}`);

export function buildApplyScript(input: ApplyScriptInput): ApplyScript {
  const N = `__provision_${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  const take = (data: Buffer | undefined): Script => {
    if (!data || data.length === 0) return raw('</dev/null');
    chunks.push(data);
    return sh`<"$_pD/s"`;
  };
  const stage = (data: Buffer | undefined): Script => (data && data.length > 0 ? sh`_ptk ${data.length} >"$_pD/s" || exit 97\n` : raw(''));

  const batched = input.tail.length > 0 ? input.tailBatch : undefined;
  const used = new Set<number>(batched ? [] : input.tail);
  for (const it of input.items) if (it.kind === 'guard') for (const k of it.reprobe) used.add(k);
  const defs = [...used].sort((a, b) => a - b).map((k) => sh`${fn(k)}() {\n( ${input.probes.get(k)!}\n)\n}`);

  const body: Script[] = [];
  input.items.forEach((it, i) => {
    if (it.kind === 'guard') {
      const want = `${it.expect.stdout}#${it.expect.code}`;
      const again = Script.join(
        it.reprobe.map((k) => sh`_pfr ${k}`),
        '\n',
      );
      body.push(
        sh`_po=$(${fn(it.task)} </dev/null 2>/dev/null; printf '#%d' $?)\nif [ "$_po" != ${want} ]; then printf '%s stale %d\\n' "$_pN" ${it.task}\n${again}\nexit 0; fi`,
      );
      return;
    }
    const step = it.step;
    let script: Script;
    let data: Buffer | undefined;
    if (step.kind === 'upload') {
      // An upload is a step like the others: its bytes on stdin, written next to the target, renamed over it.
      data = readFileSync(step.localPath);
      const mode = (step.mode ?? 0o644).toString(8);
      script = sh`p=${step.remotePath}; t="$p.provision-tmp-$$"
if cat >"$t" && chmod ${mode} "$t" && mv -f "$t" "$p"; then exit 0; fi
rm -f "$t"; exit 1`;
    } else {
      script = step.script;
      data = step.stdin === undefined ? undefined : Buffer.from(step.stdin);
    }
    body.push(
      sh`${stage(data)}printf '%s s %d\\n' "$_pN" ${i} >&2\nprintf '%s s %d begin\\n' "$_pN" ${i}\n( ${script}\n) ${take(data)} 3<&-\n_pr=$?\nprintf '\\n%s s %d end %d\\n' "$_pN" ${i} $_pr\n[ $_pr -eq 0 ] || exit $_pr`,
    );
  });
  body.push(sh`printf '%s done\\n' "$_pN"`);
  if (batched) body.push(sh`printf '%s tail begin\\n' "$_pN"\n( ${batched.script}\n) </dev/null 2>/dev/null\nprintf '\\n%s tail end %d\\n' "$_pN" $?`);
  else for (const k of input.tail) body.push(sh`_pfr ${k}`);
  if (input.epilogue) {
    const data = input.epilogue.stdin;
    body.push(sh`${stage(data)}printf '%s epi begin\\n' "$_pN"\n( ${input.epilogue.script}\n) ${take(data)}\nprintf '\\n%s epi end %d\\n' "$_pN" $?`);
  }

  const stdin = chunks.length ? Buffer.concat(chunks) : undefined;
  const head: Script[] = [sh`_pN=${N}`];
  if (stdin) {
    // Stage all stdin in a private temp dir; fd 3 reads it in order, each step takes its own bytes.
    head.push(
      raw(`_pD=$(mktemp -d "\${TMPDIR:-/tmp}/.provision.XXXXXX") || exit 97
trap 'rm -rf "$_pD"' 0
cat >"$_pD/in" || exit 97
exec 3<"$_pD/in"
_ptk() { dd bs="$1" count=1 <&3 2>/dev/null; }`),
    );
  }
  if (defs.length) {
    head.push(raw(`_pfr() { printf '%s %s begin\\n' "$_pN" "$1"; _pp$1 </dev/null 2>/dev/null; printf '\\n%s %s end %d\\n' "$_pN" "$1" $?; }`));
    head.push(...defs);
  }
  const script = Script.join([...head, ...body, raw('')], '\n');

  return {
    script,
    ...(stdin ? { stdin } : {}),
    parse(stdout: string | Buffer, stderr: string): ApplyResult {
      const res: ApplyResult = { steps: [], probes: new Map(), complete: false };
      const out = new HostOutput(stdout);
      const errParts = splitStderr(stderr, N);
      const frame = (begin: string, endMark: string) => {
        const f = out.frame(begin, endMark);
        return typeof f === 'string' || Number.isNaN(f.code) ? undefined : f;
      };
      input.items.forEach((it, i) => {
        if (it.kind !== 'step') return;
        const f = frame(`${N} s ${i} begin\n`, `\n${N} s ${i} end `);
        if (f) res.steps.push({ change: it.change, item: i, code: f.code, stdout: f.text, stderr: errParts.get(i) ?? '' });
      });
      const stale = new RegExp(`^${N} stale (\\d+)$`, 'm').exec(out.bin);
      if (stale) res.staleAt = Number(stale[1]);
      res.complete = out.bin.includes(`${N} done\n`);
      for (const k of used) {
        const f = frame(`${N} ${k} begin\n`, `\n${N} ${k} end `);
        if (f) res.probes.set(k, { stdout: f.text, code: f.code });
      }
      const tailOut = batched ? frame(`${N} tail begin\n`, `\n${N} tail end `) : undefined;
      if (batched && tailOut) {
        // Output it cannot split leaves the tail unread: the engine probes those tasks again.
        try {
          const outs = batched.split(tailOut.bytes);
          input.tail.forEach((k, j) => res.probes.set(k, outs[j]!));
        } catch (err) {
          if (!(err instanceof ProvisionError)) throw err;
        }
      }
      const epi = frame(`${N} epi begin\n`, `\n${N} epi end `);
      if (epi) res.epilogue = { code: epi.code, stdout: epi.text };
      return res;
    },
  };
}

/** Stderr by step item: each step prints `N s i` on stderr before it starts. */
function splitStderr(stderr: string, N: string): Map<number, string> {
  const out = new Map<number, string>();
  const re = new RegExp(`^${N} s (\\d+)\\n`, 'gm');
  const marks = [...stderr.matchAll(re)];
  marks.forEach((m, j) => {
    const from = m.index! + m[0].length;
    const to = j + 1 < marks.length ? marks[j + 1]!.index! : stderr.length;
    out.set(Number(m[1]), stderr.slice(from, to));
  });
  return out;
}
