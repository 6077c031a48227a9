// How a sysctl's runtime value is read on a host: one key's script (a cat of its /proc/sys file),
// and every key a batch of probes needs, read by one awk. Both print the same lines, byte for byte:
// `runtime=WORDS` (the value's words joined by single spaces) or `runtime_missing=1`.
import { Script, raw, sh } from '../core/shell.js';
import type { SharedReader } from '../core/types.js';
import { oneLineEach, surveyScript } from '../core/survey.js';

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
function survey(paths: readonly string[]): Script {
  return surveyScript(
    paths,
    oneKey,
    (all) => sh`a=
set --
for i in ${all}; do
  eval "f=\\$p$i"
  if [ -f "$f" ]; then set -- "$@" "$f"; a="$a $i"; else echo "$i.runtime_missing=1"; fi
done
[ $# -gt 0 ] || return 0
awk -v ix="$a" 'BEGIN { split(ix, k, " ") }
{ for (i = 1; i <= NF; i++) w[FILENAME] = (n[FILENAME]++ ? w[FILENAME] " " : "") $i }
END { for (j = 1; j < ARGC; j++) print k[j] ".runtime=" w[ARGV[j]] }' "$@"`,
  );
}

/** Reads many sysctls' runtime values at once (keys: /proc/sys paths). */
export const SYSCTL_READER: SharedReader = {
  one: oneKey,
  script: survey,
  split: (stdout, paths) => oneLineEach('sysctl', stdout, paths, /^runtime(_missing)?=/),
};
