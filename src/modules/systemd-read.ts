// Whether systemd units are running, read for every unit of a batch by one `systemctl is-active`
// (it prints one state per unit, in the order asked). One unit alone: `is-active --quiet`'s exit
// code. Both print `running=1|0`. (is-enabled is not read this way: systemctl answers SysV-only
// units first, out of order, and stops at the first unknown unit.)
import { SBIN_PATH, Script, raw, sh } from '../core/shell.js';
import type { SharedReader } from '../core/types.js';
import { oneLineEach, surveyScript } from '../core/survey.js';

function oneUnit(name: string, prefix: string): Script {
  const P = raw(prefix);
  return sh`(
${SBIN_PATH}
if systemctl is-active --quiet ${name}; then echo ${P}running=1; else echo ${P}running=0; fi
)`;
}

/** is-active --quiet exits 0 for these states (systemd's check_unit_generic). */
const RUNNING = raw('active|reloading|refreshing');

function survey(names: readonly string[]): Script {
  return surveyScript(
    names,
    oneUnit,
    () => sh`a=$(systemctl is-active ${[...names]} 2>/dev/null)
set -f; set -- $a; set +f
[ $# -eq ${names.length} ] || return 1
i=0
for s in "$@"; do
  case $s in ${RUNNING}) echo "$i.running=1" ;; *) echo "$i.running=0" ;; esac
  i=$((i + 1))
done`,
    SBIN_PATH,
  );
}

/** Reads many systemd units' running state at once (keys: unit names). */
export const SYSTEMD_RUNNING: SharedReader = {
  one: oneUnit,
  script: survey,
  split: (stdout, names) => oneLineEach('systemd', stdout, names, /^running=[01]$/),
};
