// How a file's state is read on a host: one file's own script. A batch reads every file with its
// other paths (PATH_READER, path-read.ts: one stat and one tail -v, its output raw, instead of a
// stat and a base64 per file), printing the same lines.
import { type Script, raw, sh } from '../core/shell.js';

/** What a file that changed size while a survey read it reports (its task fails; nothing is guessed). */
export const CHANGED = 'changed while it was read (run again)';

/**
 * What every file read together reports when tail printed nothing at all (even an empty file gets
 * a head): a tail without -v (a BusyBox built without its fancy tail), or every file gone while read.
 */
export const UNREAD =
  "not read: `tail -c +1 -v` printed nothing (a tail without -v on this host, or the files went away while read): install coreutils' tail, or run again";

/** Files up to this size have their content read by the probe (for diffs and exact undo). */
export const CONTENT_LIMIT = 256 * 1024;

/**
 * POSIX sh that prints the state of `path` as `<prefix>key=value` lines. Runs in its own
 * subshell so it can be composed into other modules' probes. Reads only. Hosts without
 * base64/sha256sum (coreutils < 6, e.g. EL5) fall back to od hex and openssl; the controller
 * hashes the content itself whenever it got it.
 */
export function fileProbeScript(path: string, prefix = ''): Script {
  // The prefix is a key name of ours ([a-z_.]* or an index), part of the printed text.
  const P = raw(prefix);
  return sh`(
p=${path}
if [ -L "$p" ]; then echo ${P}type=symlink
elif [ -d "$p" ]; then echo ${P}type=directory
elif [ ! -e "$p" ]; then echo ${P}type=absent
elif [ ! -f "$p" ]; then echo ${P}type=other
elif st=$(stat -c '%a %u %g %s %U %G' "$p"); then
  echo ${P}type=file
  printf '%s\\n' "${P}stat=$st"
  set -- $st
  # Small files: the content itself (the controller hashes it). Every process counts under
  # emulation (qemu TCG: ~0.1 s each), so the hash is computed here only for big files.
  if [ "$4" -le ${CONTENT_LIMIT} ]; then
    if b=$(base64 -w 0 < "$p" 2>/dev/null); then echo "${P}b64=$b"
    elif command -v base64 >/dev/null 2>&1; then echo "${P}b64=$(base64 < "$p" | tr -d '\\n')"
    else echo "${P}hex=$(od -An -v -tx1 < "$p" | tr -d ' \\n')"; fi
  elif command -v sha256sum >/dev/null 2>&1; then echo "${P}sha256=$(sha256sum < "$p" | cut -d' ' -f1)"
  elif command -v openssl >/dev/null 2>&1; then echo "${P}sha256=$(openssl dgst -sha256 < "$p" | sed 's/^.*= *//')"; fi
else echo "${P}error=cannot stat"; fi
)`;
}
