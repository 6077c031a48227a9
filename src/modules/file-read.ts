// How a file's state is read on a host: one file's script (fileProbeScript), and every file a
// batch of probes needs, read at once (FILE_READER): one stat and one tail -v | base64, instead of
// a stat and a base64 per file. Both print the same lines, byte for byte.
import { ProbeOutputError, sharedProbe } from '../core/batch.js';
import { Script, raw, sh } from '../core/shell.js';
import type { Probe, SharedReader } from '../core/types.js';
import { keyedLines, keysAsArgs, surveyScript } from '../core/survey.js';

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

/**
 * Every path in one go. Output: `N.key=value` lines (N = the path's index), then for the small
 * regular files read together `small= N N...` and `blob=` (their contents, concatenated, base64).
 * Anything unusual (a file that is not regular or not readable, a big one) gets its own
 * fileProbeScript; anything inconsistent (a stat that fails, a size that changed while read, no
 * base64 -w) drops the fast path and every path gets its own script.
 */
function survey(paths: readonly string[]): Script {
  return surveyScript(
    paths,
    fileProbeScript,
    (all) => sh`f=
for i in ${all}; do
  eval "p=\\$p$i"
  if [ -L "$p" ]; then echo "$i.type=symlink"
  elif [ -d "$p" ]; then echo "$i.type=directory"
  elif [ ! -e "$p" ]; then echo "$i.type=absent"
  elif [ -f "$p" ] && [ -r "$p" ]; then case $p in /*) f="$f $i" ;; *) "s$i" ;; esac
  else "s$i"; fi
done
[ -n "$f" ] || return 0
${keysAsArgs(raw('$f'))}
st=$(stat -c '%a %u %g %s %U %G' -- "$@" 2>/dev/null) || return 1
set -- $f
small=; big=; ss=
while IFS= read -r l; do
  [ $# -gt 0 ] || return 1
  i=$1; shift
  r=\${l#* }; r=\${r#* }; r=\${r#* }; sz=\${r%% *}
  case $sz in ''|*[!0-9]*) return 1 ;; esac
  if [ "$sz" -le ${CONTENT_LIMIT} ]; then
    echo "$i.type=file"; printf '%s\\n' "$i.stat=$l"; small="$small $i"; ss="$ss$l
"
  else big="$big $i"; fi
done <<EOF
$st
EOF
[ $# -eq 0 ] || return 1
if [ -n "$small" ]; then
  ${keysAsArgs(raw('$small'))}
  echo "small=$small"
  # tail -v heads each file with its name: the controller finds every head where the sizes above
  # put it, or knows the file changed while read (no second stat to confirm: a process less).
  printf blob=
  tail -c +1 -v -- "$@" 2>/dev/null | base64 -w 0 || { echo; return 1; }
  echo
fi
for i in $big; do "s$i"; done`,
  );
}

function splitSurvey(stdout: string, paths: readonly string[]): string[] {
  let small: number[] = [];
  let blob: Buffer | undefined;
  const lines = keyedLines('file', stdout, paths, (line) => {
    if (line.startsWith('small=')) small = line.slice(6).trim().split(/\s+/).filter(Boolean).map(Number);
    else if (line.startsWith('blob=')) blob = Buffer.from(line.slice(5), 'base64');
    else return false;
    return true;
  });
  if (small.length > 0) {
    if (!blob) throw new ProbeOutputError('file survey: contents missing');
    // The blob is tail -v's output: each file's content after a head naming it. A head not where
    // the stat's sizes put it means a file changed size (or went away) while read: that file and
    // those after it are not split by guesswork but reported as changed (the task fails; a new
    // run reads them again), as a file's own script reports a content that disagrees with its size.
    let at = 0;
    let lost = -1;
    small.forEach((i, j) => {
      const st = lines[i]?.find((l) => l.startsWith('stat='));
      const size = Number(st?.slice(5).split(' ')[3]);
      if (!st || !Number.isInteger(size)) throw new ProbeOutputError(`file survey: no size for ${paths[i]}`);
      const head = Buffer.from(`${j ? '\n' : ''}==> ${paths[i]} <==\n`);
      const from = at + head.length;
      const headed = blob!.subarray(at, from).equals(head);
      if (lost < 0 && headed && from + size <= blob!.length) {
        lines[i]!.push(`b64=${blob!.subarray(from, from + size).toString('base64')}`);
        at = from + size;
      } else if (lost < 0) lost = headed ? j : Math.max(0, j - 1); // a misplaced head: the file before it changed
    });
    if (lost < 0 && at !== blob.length) lost = small.length - 1;
    const why = blob.length === 0 ? UNREAD : CHANGED;
    if (lost >= 0)
      for (const i of small.slice(lost)) {
        lines[i] = lines[i]!.filter((l) => !l.startsWith('b64='));
        lines[i]!.push(`error=${why}`);
      }
  }
  return lines.map((ls) => ls.map((l) => `${l}\n`).join(''));
}

/** Reads many files' states at once; the batch gives each probe its paths' lines. */
export const FILE_READER: SharedReader = { one: fileProbeScript, script: survey, split: splitSurvey };

/** A probe script made of `own` (printed first) and file states (fileProbeScript with each prefix). */
export function fileReads(own: Script | null, files: readonly { path: string; prefix: string }[]): Pick<Probe<unknown>, 'script' | 'shared'> {
  return sharedProbe(
    own,
    files.map((f) => ({ reader: FILE_READER, key: f.path, prefix: f.prefix })),
  );
}
