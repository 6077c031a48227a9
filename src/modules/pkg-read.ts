// How a package's state is read on a dpkg host: one package's script (a dpkg-query of its name),
// and every package a batch of probes needs, read by one dpkg-query (it reads dpkg's status file
// once, not once per package). Both print the same lines, byte for byte: `dpkg=STATUS VERSION`
// for each installed instance (several with multiarch), then `done=1`.
import { SBIN_PATH, Script, raw, sh } from '../core/shell.js';
import type { SharedReader } from '../core/types.js';
import { keyedLines, keysAsArgs, surveyScript } from '../core/survey.js';

const FORMAT = '${Status} ${Version}\\n';

/** One package's script (what the probe runs alone: a guard, a re-probe). */
export function dpkgProbeScript(name: string, prefix = ''): Script {
  const P = raw(prefix);
  return sh`${SBIN_PATH}
dpkg-query -W -f=${FORMAT} ${name} 2>/dev/null | sed ${`s/^/${prefix}dpkg=/`}
echo ${P}done=1`;
}

/**
 * One dpkg-query for every name. It prints in its own order (by name) and nothing for a package it
 * does not know (exit 1 then, not a failure), so each line goes to the key whose name it carries.
 * Any other exit (no dpkg-query, a locked or broken database) drops the fast path.
 */
function survey(names: readonly string[]): Script {
  return surveyScript(
    names,
    dpkgProbeScript,
    (all) => sh`${keysAsArgs(all)}
out=$(dpkg-query -W -f=${`\${Package} ${FORMAT}`} "$@" 2>/dev/null) || [ $? -eq 1 ] || return 1
while IFS= read -r l; do
  # Verbatim: the package name, then what dpkg-query printed for it (a trailing space included).
  n=\${l%% *}; rest=\${l#* }
  [ -n "$n" ] || continue
  for i in ${all}; do eval "[ \\"\\$p$i\\" != \\"\\$n\\" ]" || printf '%s\\n' "$i.dpkg=$rest"; done
done <<EOF
$out
EOF
for i in ${all}; do echo "$i.done=1"; done`,
    SBIN_PATH,
  );
}

/** Reads many dpkg packages' states at once (keys: package names). */
export const DPKG_READER: SharedReader = {
  one: dpkgProbeScript,
  script: survey,
  split: (stdout, names) => keyedLines('pkg', stdout, names).map((ls) => ls.map((l) => `${l}\n`).join('')),
};
