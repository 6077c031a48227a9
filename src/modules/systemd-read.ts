// Whether systemd units are running, read for every unit of a batch by one `systemctl is-active`
// (it prints one state per unit, in the order asked). One unit alone: `is-active --quiet`'s exit
// code. Both print `running=1|0`. (is-enabled is not read this way: systemctl answers SysV-only
// units first, out of order, and stops at the first unknown unit.)
import { ProbeOutputError } from '../core/batch.js';
import { SBIN_PATH, Script, raw, sh } from '../core/shell.js';
import type { SharedReader } from '../core/types.js';

function oneUnit(name: string, prefix: string): Script {
  const P = raw(prefix);
  return sh`(
${SBIN_PATH}
if systemctl is-active --quiet ${name}; then echo ${P}running=1; else echo ${P}running=0; fi
)`;
}

/** is-active --quiet exits 0 for these states (systemd's check_unit_generic). */
const RUNNING = raw('active|reloading|refreshing');

function surveyScript(names: readonly string[]): Script {
  const own = names.map((n, i) => sh`${raw(`s${i}`)}() {\n${oneUnit(n, `${i}.`)}\n}`);
  const all = raw(names.map((_, i) => i).join(' '));
  return sh`${SBIN_PATH}
${Script.join(own, '\n')}
fast() {
a=$(systemctl is-active ${[...names]} 2>/dev/null)
set -f; set -- $a; set +f
[ $# -eq ${names.length} ] || return 1
i=0
for s in "$@"; do
  case $s in ${RUNNING}) echo "$i.running=1" ;; *) echo "$i.running=0" ;; esac
  i=$((i + 1))
done
}
if out=$(fast); then printf '%s\\n' "$out"
else for i in ${all}; do "s$i"; done; fi`;
}

function splitSurvey(stdout: string, names: readonly string[]): string[] {
  const lines: string[] = names.map(() => '');
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const m = /^(\d+)\.(running=[01])$/.exec(line);
    const i = m ? Number(m[1]) : -1;
    if (!m || i >= names.length || lines[i] !== '') throw new ProbeOutputError(`systemd survey: unexpected line ${JSON.stringify(line.slice(0, 80))}`);
    lines[i] = `${m[2]}\n`;
  }
  const none = lines.findIndex((l) => l === '');
  if (none >= 0) throw new ProbeOutputError(`systemd survey: nothing read for ${names[none]}`);
  return lines;
}

/** Reads many systemd units' running state at once (keys: unit names). */
export const SYSTEMD_RUNNING: SharedReader = { one: oneUnit, script: surveyScript, split: splitSurvey };
