// How a directory's state is read on a host: one directory's own script. A batch reads every
// directory with its other paths (PATH_READER, path-read.ts), printing the same lines.
import { type Script, raw, sh } from '../core/shell.js';

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
