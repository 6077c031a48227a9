// Every path a batch of probes reads on a host, read together (PATH_READER): the directories' and
// the regular files' modes and owners by one `stat -L`, the small files' contents and the sysctls'
// values by one `tail -c +1 -v`, whose output travels raw. Two programs in all, however many paths
// of each kind (a program costs a lab host ~4-7 ms of CPU, a fork ~2.5 ms). Each key prints what
// its own script prints (dirProbeScript, fileProbeScript, sysctlProbeScript), byte for byte.
import { ProbeOutputError, sharedProbe } from '../core/batch.js';
import { type Script, raw, sh } from '../core/shell.js';
import type { Probe, SharedRead, SharedReader } from '../core/types.js';
import { keyedLines, keysAsArgs, surveyScript } from '../core/survey.js';
import { dirProbeScript } from './directory-read.js';
import { CHANGED, CONTENT_LIMIT, UNREAD, fileProbeScript } from './file-read.js';
import { sysctlProbeScript } from './sysctl-read.js';

/** What a key reads: a directory's state, a file's state and content, a /proc/sys value. */
type Kind = 'dir' | 'file' | 'sysctl';

const key = (kind: Kind, path: string) => `${kind}:${path}`;

function parseKey(k: string): { kind: Kind; path: string } {
  const at = k.indexOf(':');
  const kind = k.slice(0, at);
  if (kind !== 'dir' && kind !== 'file' && kind !== 'sysctl') throw new Error(`path reader: bad key ${k}`);
  return { kind, path: k.slice(at + 1) };
}

function one(k: string, prefix: string): Script {
  const { kind, path } = parseKey(k);
  return kind === 'dir' ? dirProbeScript(path, prefix) : kind === 'file' ? fileProbeScript(path, prefix) : sysctlProbeScript(path, prefix);
}

/** The positional parameters set to the paths (the keys without their kind) of the indices in `list`. */
const pathsAsArgs = (list: Script) => keysAsArgs(list, '*:');

/**
 * Every key in one go. Output: `N.key=value` lines (N = the key's index); `sysctl= N...` and
 * `small= N...` for the values and small files read together, then a line `blob=` and, to the end
 * of the output, tail -v's (the sysctls first, then the files). Anything unusual (not a directory,
 * a file that is not regular or not readable, a big file, a sysctl that cannot be read) gets its
 * own script; anything inconsistent (a stat that fails or prints too little) drops the fast path
 * and every key gets its own script, before any content is printed.
 */
function survey(keys: readonly string[]): Script {
  return surveyScript(
    keys,
    one,
    // (ds, not d: a directory's own script walks up an absent path in $d; it sets $p too)
    (all) => sh`ds=; f=; sy=
for i in ${all}; do
  eval "k=\\$p$i"
  p=\${k#*:}
  case $k in
  dir:*) if [ -d "$p" ]; then echo "$i.type=directory"; ds="$ds $i"; else "s$i"; fi ;;
  sysctl:*) if [ ! -f "$p" ]; then echo "$i.runtime_missing=1"; elif [ -r "$p" ]; then sy="$sy $i"; else "s$i"; fi ;;
  *)
    if [ -L "$p" ]; then echo "$i.type=symlink"
    elif [ -d "$p" ]; then echo "$i.type=directory"
    elif [ ! -e "$p" ]; then echo "$i.type=absent"
    elif [ -f "$p" ] && [ -r "$p" ]; then case $p in /*) f="$f $i" ;; *) "s$i" ;; esac
    else "s$i"; fi ;;
  esac
done
small=; big=
if [ -n "$ds$f" ]; then
  ${pathsAsArgs(raw('$ds $f'))}
  # The files are no symlinks (tested above): -L, which the directories need, changes nothing for them.
  st=$(stat -L -c '%a %u %g %s %U %G' -- "$@" 2>/dev/null) || return 1
  set -- $ds; nd=$#
  set -- $ds $f
  while IFS= read -r l; do
    [ $# -gt 0 ] || return 1
    i=$1; shift
    a=\${l%% *}; r=\${l#* }; u=\${r%% *}; r=\${r#* }; g=\${r%% *}; r=\${r#* }; sz=\${r%% *}; r=\${r#* }
    case $sz in ''|*[!0-9]*) return 1 ;; esac
    if [ $nd -gt 0 ]; then nd=$((nd - 1)); printf '%s\\n' "$i.stat=$a $u $g $r"
    elif [ "$sz" -le ${CONTENT_LIMIT} ]; then echo "$i.type=file"; printf '%s\\n' "$i.stat=$l"; small="$small $i"
    else big="$big $i"; fi
  done <<EOF
$st
EOF
  [ $# -eq 0 ] || return 1
fi
for i in $big; do "s$i"; done
if [ -n "$sy$small" ]; then
  ${pathsAsArgs(raw('$sy $small'))}
  # A file's own script prints its content as base64, or as hex (od) where there is no base64;
  # with neither, as it prints it then (nothing): each key's own script.
  if [ -z "$small" ] || command -v base64 >/dev/null 2>&1; then enc=b64; elif command -v od >/dev/null 2>&1; then enc=hex; else return 1; fi
  echo "sysctl=$sy"
  echo "small=$small"
  echo "enc=$enc"
  echo blob=
  # The contents, raw, to the end of this frame (no base64: a process less). tail -v heads each file
  # with its name: the controller finds every file's head where the sizes above put it, or knows the
  # file changed while read (no second stat to confirm: a process less). /proc/sys files have no
  # size: a value runs to the next head. tail reads a value at once (a shell's read takes a byte at
  # a time, and /proc/sys answers a read past the start with nothing). Nothing may follow: no fallback.
  tail -c +1 -v -- "$@" 2>/dev/null || :
fi`,
  );
}

const indices = (s: string) => s.trim().split(/\s+/).filter(Boolean).map(Number);

/** A value's words joined by single spaces, as the shell's `set -- $v` splits them. */
const words = (s: string) =>
  s
    .split(/[ \t\n]+/)
    .filter(Boolean)
    .join(' ');

const BLOB = Buffer.from('blob=\n');

/** Where the raw contents start (after a line `blob=`), or -1. Paths have no newline: no line above is one. */
function blobAt(out: Buffer): number {
  for (let at = out.indexOf(BLOB); at >= 0; at = out.indexOf(BLOB, at + 1)) if (at === 0 || out[at - 1] === 0x0a) return at + BLOB.length;
  return -1;
}

function splitSurvey(stdout: string, keys: readonly string[], bytes = Buffer.from(stdout, 'utf8')): string[] {
  let small: number[] = [];
  let sysctls: number[] = [];
  let enc: 'b64' | 'hex' = 'b64';
  const start = blobAt(bytes);
  const blob = start < 0 ? undefined : bytes.subarray(start);
  const lines = keyedLines('path', start < 0 ? stdout : bytes.subarray(0, start - BLOB.length).toString('utf8'), keys, (line) => {
    if (line.startsWith('small=')) small = indices(line.slice(6));
    else if (line.startsWith('sysctl=')) sysctls = indices(line.slice(7));
    else if (line === 'enc=hex') enc = 'hex';
    else if (line !== 'enc=b64') return false;
    return true;
  });
  const read = [...sysctls, ...small];
  if (read.length === 0) return lines.map((ls) => ls.map((l) => `${l}\n`).join(''));
  if (!blob) throw new ProbeOutputError('path survey: contents missing');
  for (const i of read) if (!lines[i]) throw new ProbeOutputError(`path survey: no key ${i}`);
  // The blob is tail -v's output: each content after a head naming its file. A file's head not
  // where the stat's sizes put it means a file changed size (or went away) while read; a value's
  // head missing, that it went away: that key and those after it are not split by guesswork but
  // reported as changed (the task fails; a new run reads them again).
  const heads = read.map((i, j) => Buffer.from(`${j ? '\n' : ''}==> ${parseKey(keys[i]!).path} <==\n`));
  let at = 0;
  let lost = -1;
  for (let j = 0; j < read.length && lost < 0; j++) {
    const i = read[j]!;
    const from = at + heads[j]!.length;
    const headed = blob.subarray(at, from).equals(heads[j]!);
    if (j < sysctls.length) {
      const end = j + 1 < heads.length ? blob.indexOf(heads[j + 1]!, from) : blob.length;
      if (!headed || end < 0) lost = j;
      else {
        lines[i]!.push(`runtime=${words(blob.subarray(from, end).toString('utf8'))}`);
        at = end;
      }
      continue;
    }
    const st = lines[i]!.find((l) => l.startsWith('stat='));
    const size = Number(st?.slice(5).split(' ')[3]);
    if (!st || !Number.isInteger(size)) throw new ProbeOutputError(`path survey: no size for ${keys[i]}`);
    if (headed && from + size <= blob.length) {
      const content = blob.subarray(from, from + size);
      lines[i]!.push(enc === 'b64' ? `b64=${content.toString('base64')}` : `hex=${content.toString('hex')}`);
      at = from + size;
    } else lost = headed || j === sysctls.length ? j : j - 1; // a misplaced head: the file before it changed (a value ends at its head)
  }
  if (lost < 0 && at !== blob.length) lost = read.length - 1;
  const why = blob.length === 0 ? UNREAD : CHANGED;
  if (lost >= 0)
    for (const i of read.slice(lost)) {
      lines[i] = lines[i]!.filter((l) => !l.startsWith('b64=') && !l.startsWith('hex=') && !l.startsWith('runtime='));
      lines[i]!.push(`error=${why}`);
    }
  return lines.map((ls) => ls.map((l) => `${l}\n`).join(''));
}

/** Reads a host's directories, files and sysctl values at once; the batch gives each probe its keys' lines. */
export const PATH_READER: SharedReader = { one, script: survey, split: splitSurvey };

/** A directory's state (dirProbeScript's lines), read with the batch's other paths. */
export const dirRead = (path: string, prefix: string): SharedRead => ({ reader: PATH_READER, key: key('dir', path), prefix });

/** A file's state and small content (fileProbeScript's lines), read with the batch's other paths. */
export const fileRead = (path: string, prefix: string): SharedRead => ({ reader: PATH_READER, key: key('file', path), prefix });

/** A /proc/sys value (sysctlProbeScript's lines), read with the batch's other paths. */
export const sysctlRead = (procPath: string, prefix: string): SharedRead => ({ reader: PATH_READER, key: key('sysctl', procPath), prefix });

/** A probe script made of `own` (printed first) and file states (fileProbeScript with each prefix). */
export function fileReads(own: Script | null, files: readonly { path: string; prefix: string }[]): Pick<Probe<unknown>, 'script' | 'shared'> {
  return sharedProbe(
    own,
    files.map((f) => fileRead(f.path, f.prefix)),
  );
}
