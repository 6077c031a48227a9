// How a sysctl's runtime value is read on a host: one key's own script (a cat of its /proc/sys
// file). A batch reads every value with its other paths (PATH_READER, path-read.ts), printing the
// same lines: `runtime=WORDS` (the value's words joined by single spaces) or `runtime_missing=1`.
import { type Script, raw, sh } from '../core/shell.js';

/** One /proc/sys file: one cat, then builtins (the shell's read is no use: /proc/sys values cannot be read in pieces). */
export function sysctlProbeScript(path: string, prefix = ''): Script {
  const P = raw(prefix);
  return sh`(
f=${path}
if [ -f "$f" ]; then v=$(cat "$f"); set -f; set -- $v; set +f; printf '%s\\n' "${P}runtime=$*"; else echo ${P}runtime_missing=1; fi
)`;
}
