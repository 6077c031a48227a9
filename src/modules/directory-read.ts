// How a directory's state is read on a host: one directory's script (dirProbeScript), and every
// directory a batch of probes needs, read at once (DIRECTORY_READER): one `stat -L` for all of them
// instead of one per directory. Both print the same lines, byte for byte.
import { Script, raw, sh } from '../core/shell.js';
import type { SharedReader } from '../core/types.js';
import { ProbeOutputError } from '../core/batch.js';
import { keyedLines, keysAsArgs, surveyScript } from '../core/survey.js';

/**
 * `<prefix>type=directory|other|absent`, then `stat=` (`stat -L`: a symlink to a directory is
 * accepted and its target managed, /var/run -> /run) or `missing=` for each absent component,
 * deepest first (what mkdir -p will create). stat prints its own line: no $(...), a fork less.
 */
export function dirProbeScript(path: string, prefix = ''): Script {
  // The prefix is a key name of ours ([a-z_.]* or an index), part of the printed text.
  const P = raw(prefix);
  return sh`p=${path}
if [ -d "$p" ]; then
  echo ${P}type=directory
  stat -L -c ${`${prefix}stat=%a %u %g %U %G`} "$p" || echo ${P}error=cannot stat
elif [ -e "$p" ] || [ -L "$p" ]; then echo ${P}type=other
else
  echo ${P}type=absent
  d=$p
  while [ ! -e "$d" ] && [ ! -L "$d" ]; do printf '%s\\n' "${P}missing=$d"; d=$(dirname "$d"); done
fi`;
}

/**
 * Every directory's type, then `dirs= N N...` and one `stat -L` line per directory listed, in that
 * order. A path that is not a directory gets its own script (no process unless it is absent). A
 * stat that fails drops the fast path: every path gets its own script.
 */
function survey(paths: readonly string[]): Script {
  return surveyScript(
    paths,
    dirProbeScript,
    // (ds, not d: a key's own script walks up an absent path in $d)
    (all) => sh`ds=
for i in ${all}; do
  eval "p=\\$p$i"
  if [ -d "$p" ]; then echo "$i.type=directory"; ds="$ds $i"; else "s$i"; fi
done
[ -n "$ds" ] || return 0
${keysAsArgs(raw('$ds'))}
echo "dirs=$ds"
stat -L -c 'stat=%a %u %g %U %G' -- "$@"`,
  );
}

function splitSurvey(stdout: string, paths: readonly string[]): string[] {
  let dirs: number[] = [];
  const stats: string[] = [];
  const lines = keyedLines('directory', stdout, paths, (line) => {
    if (line.startsWith('dirs=')) dirs = line.slice(5).trim().split(/\s+/).map(Number);
    else if (line.startsWith('stat=')) stats.push(line);
    else return false;
    return true;
  });
  if (stats.length !== dirs.length || dirs.some((i) => !lines[i]))
    throw new ProbeOutputError(`directory survey: ${stats.length} stat lines for ${dirs.length} directories`);
  dirs.forEach((i, k) => lines[i]!.push(stats[k]!));
  return lines.map((ls) => ls.map((l) => `${l}\n`).join(''));
}

/** Reads many directories' states at once; the batch gives each probe its path's lines. */
export const DIRECTORY_READER: SharedReader = { one: dirProbeScript, script: survey, split: splitSurvey };
