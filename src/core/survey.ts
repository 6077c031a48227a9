// The host side of a SharedReader, shared by every kind: each key's value in `$pN`, each key's own
// script as a function `sN` (printing `N.line`s), and a `fast` body that reads every key at once.
// When `fast` fails, every key's own script runs instead: the lines are the same either way.
// `fast` prints as it goes (holding its output in $(...) would cost a fork); when it fails, AGAIN
// is printed and everything before it is dropped here.
import { ProbeOutputError } from './batch.js';
import { Script, raw, sh } from './shell.js';

/** The line a survey prints when its fast path failed: the lines before it do not count. */
export const AGAIN = '-again-';

/** `fast(all)` gets the key indices ("0 1 2") for its loops; `before` runs first (a PATH). */
export function surveyScript(keys: readonly string[], one: (key: string, prefix: string) => Script, fast: (all: Script) => Script, before?: Script): Script {
  const vars = keys.map((k, i) => sh`${raw(`p${i}`)}=${k}`);
  const own = keys.map((k, i) => sh`${raw(`s${i}`)}() {\n${one(k, `${i}.`)}\n}`);
  const all = raw(keys.map((_, i) => i).join(' '));
  return sh`${before ?? raw('')}
${Script.join(vars, '\n')}
${Script.join(own, '\n')}
fast() {
${fast(all)}
}
fast 2>/dev/null || { echo ${raw(AGAIN)}; for i in ${all}; do "s$i"; done; }`;
}

/**
 * Sets the positional parameters to the keys `$pN` of the indices in `list` (a variable: "$f");
 * `strip`, a shell pattern, is cut from each key's front first (`*:`: a key's kind).
 */
export function keysAsArgs(list: Script, strip?: '*:'): Script {
  const key = raw(strip ? `\\\${p$i#${strip}}` : '\\$p$i');
  return sh`set --
for i in ${list}; do eval "set -- \\"\\$@\\" \\"${key}\\""; done`;
}

/**
 * Each key's lines (without `N.`) from a survey's output, in order. Lines without an index go to
 * `other`, which says whether it took them; anything else is refused.
 */
export function keyedLines(what: string, stdout: string, keys: readonly string[], other?: (line: string) => boolean): string[][] {
  const lines: string[][] = keys.map(() => []);
  const all = stdout.split('\n');
  for (const line of all.slice(all.lastIndexOf(AGAIN) + 1)) {
    if (line === '') continue;
    const m = /^(\d+)\.(.*)$/.exec(line);
    if (m && Number(m[1]) < keys.length) lines[Number(m[1])]!.push(m[2]!);
    else if (!other?.(line)) throw new ProbeOutputError(`${what} survey: unexpected line ${JSON.stringify(line.slice(0, 80))}`);
  }
  return lines;
}

/** One line per key, matching `re`: the key's whole output. */
export function oneLineEach(what: string, stdout: string, keys: readonly string[], re: RegExp): string[] {
  return keyedLines(what, stdout, keys).map((ls, i) => {
    if (ls.length === 0) throw new ProbeOutputError(`${what} survey: nothing read for ${keys[i]}`);
    if (ls.length > 1 || !re.test(ls[0]!)) throw new ProbeOutputError(`${what} survey: unexpected line ${JSON.stringify(ls.join('\n').slice(0, 80))}`);
    return `${ls[0]}\n`;
  });
}
