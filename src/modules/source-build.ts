// sourceBuild: builds and installs software from a controller-side tarball or source rpm, for hosts
// whose repositories lack it (e.g. ipvsadm on old releases). The artifact's sha256 is checked on the
// controller before anything is planned.
//
// Exact rollback: a tarball is installed into a staging tree first (installScript, default
// `make install DESTDIR="$STAGE"`), then merged into / file by file (temp name + rename, so running
// binaries are replaced, not overwritten in place). Before the merge the step records, under the workdir:
//   <id>.files       every installed path (also printed on stdout, which the engine journals),
//   <id>.backup.tar  the files that existed before and were overwritten,
//   <id>.dirs        the directories the install created.
// Undo removes the listed files, restores the backup and removes the created (empty) directories.
// Existing directories are never chmod-ed/chown-ed (unlike a blunt `cp -a $STAGE/. /`).
// A source rpm is rebuilt with rpmbuild and its binary rpms (debuginfo excluded) installed with
// rpm -Uvh; <id>.rpms records the packages that were not installed before; undo erases those.
import { basename, resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import type { PlannedChange, Probe, Step, Task } from '../core/types.js';
import { SBIN_PATH, type Script, raw, sh } from '../core/shell.js';
import { ArtifactChecksumError, ModuleError } from './errors.js';
import { KeyValues, checkName, meta, sha256File, type TaskMeta } from './util.js';

export interface SourceBuildOptions extends TaskMeta {
  name: string;
  /** Controller path, relative to projectDir. */
  artifact: string;
  sha256: string;
  kind: 'tarball' | 'srpm';
  /** sh test that exits 0 when the software is already installed (e.g. `ipvsadm --version | grep -q 1.31`). */
  installedCheck: Script;
  /**
   * Runs in the unpacked source's top directory (tarball) or the work directory (srpm), with
   * STAGE/DESTDIR (tarball) or SRPM/TOPDIR (srpm) exported. Default: `make` / `rpmbuild --rebuild`.
   */
  buildScript?: Script;
  /** Tarball only: installs into "$STAGE". Default `make install DESTDIR="$STAGE"`. */
  installScript?: Script;
  workdir?: string;
}

export interface SourceBuildState {
  installed: boolean;
  checkCode: number;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const WORKDIR_RE = /^\/[A-Za-z0-9._/-]+$/;
export const DEFAULT_WORKDIR = '/var/tmp/provision-build';
export const DEFAULT_TARBALL_BUILD = raw('make');
export const DEFAULT_TARBALL_INSTALL = raw('make install DESTDIR="$STAGE"');
export const DEFAULT_SRPM_BUILD = raw('rpmbuild --rebuild --define "_topdir $TOPDIR" "$SRPM"');

export function sourceBuildProbe(installedCheck: Script): Probe<SourceBuildState> {
  return {
    script: sh`${SBIN_PATH}\n( ${installedCheck}\n) >/dev/null 2>&1 </dev/null; echo "installed=$?"`,
    inline: true,
    blank: 'installed=1',
    parse(out) {
      const v = new KeyValues(out.stdout).get('installed');
      if (v === undefined || !/^\d+$/.test(v)) throw new ModuleError('sourceBuild', 'installedCheck probe printed no exit code');
      return { installed: v === '0', checkCode: Number(v) };
    },
  };
}

/** `gzip -dc` etc.: portable to tars that predate -z/-j/--strip-components. */
export function decompressor(file: string): Script {
  if (/\.(tar\.gz|tgz)$/.test(file)) return raw('gzip -dc');
  if (/\.(tar\.bz2|tbz2?)$/.test(file)) return raw('bzip2 -dc');
  if (/\.(tar\.xz|txz)$/.test(file)) return raw('xz -dc');
  if (/\.tar$/.test(file)) return raw('cat');
  throw new ModuleError('sourceBuild', `${file}: unknown tarball compression (want .tar.gz/.tgz/.tar.bz2/.tar.xz/.tar)`);
}

export interface BuildLayout {
  /** Scratch directory removed after install. */
  dir: string;
  remoteArtifact: string;
  manifest: string;
  dirs: string;
  backup: string;
  rpms: string;
}

export function buildLayout(workdir: string, name: string, sha: string, artifact: string): BuildLayout {
  const id = `${workdir}/${name}-${sha.slice(0, 12)}`;
  return {
    dir: id,
    remoteArtifact: `${id}/${basename(artifact)}`,
    manifest: `${id}.files`,
    dirs: `${id}.dirs`,
    backup: `${id}.backup.tar`,
    rpms: `${id}.rpms`,
  };
}

function exec(script: Script): Step {
  return { kind: 'exec', script: sh`${SBIN_PATH}\n${script}` };
}

const CD_TOP = raw(`set -- *
if [ $# -eq 1 ] && [ -d "$1" ]; then cd "$1" || exit 1; fi`);

export function tarballSteps(L: BuildLayout, localPath: string, build: Script, install: Script): { apply: Step[]; undo: Step[] } {
  const B = L.dir;
  const env = sh`STAGE=${`${L.dir}/stage`}; DESTDIR="$STAGE"; export STAGE DESTDIR`;
  const apply: Step[] = [
    exec(sh`rm -rf ${B} && mkdir -p ${`${L.dir}/src`} ${`${L.dir}/stage`}`),
    { kind: 'upload', localPath, remotePath: L.remoteArtifact, mode: 0o600 },
    exec(
      sh`cd ${`${L.dir}/src`} && ${decompressor(L.remoteArtifact)} ${L.remoteArtifact} | tar xf - || { echo ${`cannot unpack ${basename(L.remoteArtifact)}`} >&2; exit 1; }`,
    ),
    exec(sh`cd ${`${L.dir}/src`} || exit 1\n${CD_TOP}\n${env}\n( ${build}\n)`),
    exec(sh`M=${L.manifest}; D=${L.dirs}; K=${L.backup}; B=${B}
cd "$B/src" || exit 1
${CD_TOP}
${env}
( ${install}
) >&2 || exit 1
cd "$STAGE" || exit 1
find . ! -type d | sed 's|^\\./||' > "$M.new"
[ -s "$M.new" ] || { echo "install put nothing into $STAGE (does it honour DESTDIR?)" >&2; exit 1; }
find . -type d | sed -e '/^\\.$/d' -e 's|^\\./||' > "$B/alldirs"
while IFS= read -r d; do [ -d "/$d" ] || printf '%s\\n' "$d"; done < "$B/alldirs" > "$D"
while IFS= read -r f; do if [ -e "/$f" ] || [ -L "/$f" ]; then printf '%s\\n' "$f"; fi; done < "$M.new" > "$B/existing"
rm -f "$K"
if [ -s "$B/existing" ]; then (cd / && tar cf "$K" -T "$B/existing") || exit 1; fi
while IFS= read -r d; do mkdir -p "/$d" || exit 1; done < "$D"
while IFS= read -r f; do cp -a "$f" "/$f.provision-new" && mv -f "/$f.provision-new" "/$f" || exit 1; done < "$M.new"
mv -f "$M.new" "$M"
cat "$M"`),
    exec(sh`rm -rf ${B}`),
  ];
  const undo: Step[] = [
    exec(sh`M=${L.manifest}; D=${L.dirs}; K=${L.backup}
[ -f "$M" ] || { echo "no install manifest $M: cannot undo" >&2; exit 1; }
while IFS= read -r f; do rm -f "/$f"; done < "$M"
if [ -f "$K" ]; then (cd / && tar xpf "$K") || exit 1; fi
if [ -f "$D" ]; then sort -r "$D" | while IFS= read -r d; do rmdir "/$d" 2>/dev/null; done; fi
rm -f "$M" "$D" "$K"`),
  ];
  return { apply, undo };
}

export function srpmSteps(L: BuildLayout, localPath: string, build: Script): { apply: Step[]; undo: Step[] } {
  const B = L.dir;
  const env = sh`SRPM=${L.remoteArtifact}; TOPDIR=${`${L.dir}/rpm`}; export SRPM TOPDIR`;
  const apply: Step[] = [
    exec(sh`rm -rf ${B} && mkdir -p ${`${L.dir}/rpm`}`),
    { kind: 'upload', localPath, remotePath: L.remoteArtifact, mode: 0o600 },
    exec(sh`cd ${B} || exit 1\n${env}\n( ${build}\n)`),
    exec(sh`P=${L.rpms}; ${env}
set -- "$TOPDIR"/RPMS/*/*.rpm
[ -e "$1" ] || { echo "rpmbuild produced no binary rpm under $TOPDIR/RPMS" >&2; exit 1; }
pk=""
for r in "$@"; do case "$r" in *-debuginfo-*) ;; *) pk="$pk $r" ;; esac; done
: > "$P.new"
for r in $pk; do n=$(rpm -qp --qf '%{NAME}' "$r") || exit 1; rpm -q "$n" >/dev/null 2>&1 || printf '%s\\n' "$n" >> "$P.new"; done
rpm -Uvh $pk >&2 || exit 1
mv -f "$P.new" "$P"
cat "$P"`),
    exec(sh`rm -rf ${B}`),
  ];
  const undo: Step[] = [
    exec(sh`P=${L.rpms}
[ -f "$P" ] || { echo "no package record $P: cannot undo" >&2; exit 1; }
n=$(cat "$P")
if [ -n "$n" ]; then rpm -e $n || exit 1; fi
rm -f "$P"`),
  ];
  return { apply, undo };
}

/** Controller-side check; throws ArtifactChecksumError on mismatch. */
export async function verifyArtifact(file: string, expected: string, host?: string): Promise<void> {
  await stat(file).catch((e: Error) => {
    throw new ModuleError('sourceBuild', `artifact ${file} not readable: ${e.message}`, host);
  });
  const actual = await sha256File(file);
  if (actual !== expected.toLowerCase()) throw new ArtifactChecksumError('sourceBuild', file, expected, actual, host);
}

export function sourceBuild(opts: SourceBuildOptions): Task<SourceBuildState> {
  const name = checkName('sourceBuild', 'name', opts.name, NAME_RE);
  checkName('sourceBuild', 'sha256', opts.sha256, /^[0-9a-fA-F]{64}$/);
  const workdir = checkName('sourceBuild', 'workdir', opts.workdir ?? DEFAULT_WORKDIR, WORKDIR_RE);
  if (opts.kind === 'tarball') decompressor(opts.artifact);
  else if (opts.kind !== 'srpm') throw new ModuleError('sourceBuild', `kind must be tarball or srpm, got ${String(opts.kind)}`);
  return {
    ...meta(`build ${name} from ${basename(opts.artifact)}`, opts),
    module: 'sourceBuild',
    probe: () => sourceBuildProbe(opts.installedCheck),
    async plan(state, ctx): Promise<PlannedChange[]> {
      const local = resolve(ctx.projectDir, opts.artifact);
      await verifyArtifact(local, opts.sha256, ctx.host);
      if (state.installed) return [];
      const L = buildLayout(workdir, name, opts.sha256.toLowerCase(), opts.artifact);
      const steps =
        opts.kind === 'tarball'
          ? tarballSteps(L, local, opts.buildScript ?? DEFAULT_TARBALL_BUILD, opts.installScript ?? DEFAULT_TARBALL_INSTALL)
          : srpmSteps(L, local, opts.buildScript ?? DEFAULT_SRPM_BUILD);
      return [
        {
          summary: `build and install ${name} from ${basename(opts.artifact)} (${opts.kind})`,
          reason: `installedCheck exited ${state.checkCode}`,
          apply: steps.apply,
          undo: steps.undo,
          before: { name, installed: false },
          after: {
            name,
            installed: true,
            artifact: basename(opts.artifact),
            sha256: opts.sha256.toLowerCase(),
            record: opts.kind === 'tarball' ? L.manifest : L.rpms,
          },
        },
      ];
    },
  };
}
