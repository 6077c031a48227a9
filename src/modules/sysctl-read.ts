// How a sysctl's runtime value is read on a host: one key's script (a cat of its /proc/sys file),
// and every key a batch of probes needs, read by one awk. Both print the same lines, byte for byte:
// `runtime=WORDS` (the value's words joined by single spaces) or `runtime_missing=1`.
import { ProbeOutputError } from '../core/batch.js';
import { Script, raw, sh } from '../core/shell.js';
import type { SharedReader } from '../core/types.js';

/** One /proc/sys file: one cat, then builtins (the shell's read is no use: /proc/sys values cannot be read in pieces). */
function oneKey(path: string, prefix: string): Script {
  const P = raw(prefix);
  return sh`(
f=${path}
if [ -f "$f" ]; then v=$(cat "$f"); set -f; set -- $v; set +f; printf '%s\\n' "${P}runtime=$*"; else echo ${P}runtime_missing=1; fi
)`;
}

/**
 * Every key in one awk (it splits words as the shell does: spaces, tabs, lines). A file awk cannot
 * open stops it: then every key is read by its own script, as if alone.
 */
function surveyScript(paths: readonly string[]): Script {
  const vars = paths.map((p, i) => sh`${raw(`p${i}`)}=${p}`);
  const own = paths.map((p, i) => sh`${raw(`s${i}`)}() {\n${oneKey(p, `${i}.`)}\n}`);
  const all = raw(paths.map((_, i) => i).join(' '));
  return sh`${Script.join(vars, '\n')}
${Script.join(own, '\n')}
fast() {
a=
set --
for i in ${all}; do
  eval "f=\\$p$i"
  if [ -f "$f" ]; then set -- "$@" "$f"; a="$a $i"; else echo "$i.runtime_missing=1"; fi
done
[ $# -gt 0 ] || return 0
awk -v ix="$a" 'BEGIN { split(ix, k, " ") }
{ for (i = 1; i <= NF; i++) w[FILENAME] = (n[FILENAME]++ ? w[FILENAME] " " : "") $i }
END { for (j = 1; j < ARGC; j++) print k[j] ".runtime=" w[ARGV[j]] }' "$@"
}
if out=$(fast 2>/dev/null); then [ -z "$out" ] || printf '%s\\n' "$out"
else for i in ${all}; do "s$i"; done; fi`;
}

function splitSurvey(stdout: string, paths: readonly string[]): string[] {
  const lines: string[] = paths.map(() => '');
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const m = /^(\d+)\.(runtime(?:_missing)?=.*)$/.exec(line);
    const i = m ? Number(m[1]) : -1;
    if (!m || i >= paths.length || lines[i] !== '') throw new ProbeOutputError(`sysctl survey: unexpected line ${JSON.stringify(line.slice(0, 80))}`);
    lines[i] = `${m[2]}\n`;
  }
  const none = lines.findIndex((l) => l === '');
  if (none >= 0) throw new ProbeOutputError(`sysctl survey: nothing read for ${paths[none]}`);
  return lines;
}

/** Reads many sysctls' runtime values at once (keys: /proc/sys paths). */
export const SYSCTL_READER: SharedReader = { one: oneKey, script: surveyScript, split: splitSurvey };
