// Facts: one POSIX sh script, one round trip, parsed into HostFacts. Playbooks branch on these.
// The script has two parts: what the shell reads itself (no process: ~3 ms on a lab host, as much
// as sh starting), and what takes processes (ip, awk: ~22 ms). A run gathers only the first when
// the host's last run read none of the second's facts (core/facts-reads.ts).
import { isDeepStrictEqual } from 'node:util';
import { raw } from './shell.js';
import { KeyValues } from './key-values.js';
import type { HostFacts, InitSystem, OsFamily, PackageManager, InterfaceFact } from './types.js';

/** The facts the second part of the script prints: they take processes (ip, awk, dpkg-query). */
export const COSTLY_FACTS: ReadonlySet<keyof HostFacts> = new Set<keyof HostFacts>(['hostname', 'user', 'interfaces', 'defaultInterface', 'ipvsadm']);

/** True when a and b agree on every fact, or on every fact but the costly ones. */
export function sameFacts(a: HostFacts, b: HostFacts, costly = true): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)] as (keyof HostFacts)[]);
  return [...keys].every((k) => (!costly && COSTLY_FACTS.has(k)) || isDeepStrictEqual(a[k], b[k]));
}

const BASE = String.raw`
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Every file below is read under $root: empty on a host; the fixture tests point it at a recorded tree.
root=
# A kernel with kernel.arch (Linux 6.x) is read by the shell itself; such a kernel serves a
# /proc/sys string a byte at a time, as the shell's read takes it (old ones answer the first
# byte only). Older kernels: one uname for both (release before machine, whatever the order asked).
kr=; arch=
if [ -r "$root/proc/sys/kernel/arch" ]; then
  read -r arch < "$root/proc/sys/kernel/arch"; read -r kr < "$root/proc/sys/kernel/osrelease"
fi
[ -n "$kr" ] && [ -n "$arch" ] || { set -- $(uname -r -m); kr=$1; arch=$2; }
echo "kernel=$kr"
echo "arch=$arch"
if [ -r "$root/etc/os-release" ]; then
  . "$root/etc/os-release"
  echo "os_id=$ID"; echo "os_like=$ID_LIKE"; echo "os_version=$VERSION_ID"; echo "os_pretty=$PRETTY_NAME"
elif [ -r "$root/etc/redhat-release" ]; then
  echo "os_id=redhat"; echo "os_like=rhel"; echo "os_pretty=$(cat "$root/etc/redhat-release")"
  echo "os_version=$(sed -n 's/.*release \([0-9.]*\).*/\1/p' "$root/etc/redhat-release")"
elif [ -r "$root/etc/debian_version" ]; then
  echo "os_id=debian"; echo "os_version=$(cat "$root/etc/debian_version")"; echo "os_pretty=Debian $(cat "$root/etc/debian_version")"
fi
if [ -d "$root/run/systemd/system" ]; then echo init=systemd; else echo init=sysv; fi
for pm in apt-get dnf yum up2date; do if command -v $pm >/dev/null 2>&1; then echo "pkgmgr=$pm"; break; fi; done
if command -v dpkg-query >/dev/null 2>&1; then echo pkgdb=dpkg; elif command -v rpm >/dev/null 2>&1; then echo pkgdb=rpm; fi
if [ -e "$root/proc/sys/net/ipv4/conf/all/arp_ignore" ]; then echo arp_sysctls=1; else echo arp_sysctls=0; fi
# modinfo only looks under /lib/modules/RELEASE: without it (a container) there is nothing to find.
if [ -e "$root/proc/net/ip_vs" ] || [ -d "$root/sys/module/ip_vs" ] || { [ -d "$root/lib/modules/$kr" ] && modinfo ip_vs >/dev/null 2>&1; }; then echo ipvs_kernel=1; else echo ipvs_kernel=0; fi
`;

const COSTLY = String.raw`
# With dpkg (and ip: that branch's awk), ipvsadm's version is read from dpkg's status file by the
# awk below (dpkg-query reads all of that file too, in a process of its own).
db=
if command -v ipvsadm >/dev/null 2>&1 || [ -x "$root/sbin/ipvsadm" ]; then
  echo ipvsadm=1
  if command -v dpkg-query >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 && [ -r "$root/var/lib/dpkg/status" ]; then db=$root/var/lib/dpkg/status
  else echo "ipvsadm_version=$(dpkg-query -W -f='${'$'}{Version}' ipvsadm 2>/dev/null || rpm -q --qf '%{VERSION}-%{RELEASE}' ipvsadm 2>/dev/null)"; fi
else echo ipvsadm=0; fi
if command -v ip >/dev/null 2>&1; then
  # One ip and one awk for the rest. The awk reads files whole (a shell's read takes a byte at a
  # time, which old kernels' /proc/sys answers with the first byte only) and tells them apart by
  # name: the hostname, the user (this process's effective uid, named by /etc/passwd; hostname
  # and id where those are missing), the links and their UP flag (IFF_UP, the lowest bit) from
  # /sys, the addresses from ip, the default route from /proc/net/route. ip prints the links and
  # the route where there is no /sys (Linux 2.4) or /proc/net/route.
  set --
  for f in "$root/proc/sys/kernel/hostname" "$root/proc/self/status" "$root/etc/passwd"; do [ -r "$f" ] && set -- "$@" "$f"; done
  for f in "$root"/sys/class/net/*/flags; do [ -r "$f" ] && set -- "$@" "$f"; done
  case "$*" in */flags) links=1 ;; *) links= ;; esac
  rt=$root/proc/net/route
  [ -r "$rt" ] || rt=
  set -- "$@" -
  [ -z "$rt" ] || set -- "$@" "$rt"
  [ -z "$db" ] || set -- "$@" "$db"
  prog='
    FILENAME ~ /\/kernel\/hostname$/ { hn = $0; next }
    FILENAME ~ /\/self\/status$/ { if ($1 == "Uid:") uid = $3; next }
    FILENAME ~ /\/passwd$/ { split($0, pw, ":"); if (u == "" && uid != "" && pw[3] == uid) u = pw[1]; next }
    FILENAME ~ /\/flags$/ { n = FILENAME; sub(/\/flags$/, "", n); sub(/.*\//, "", n); print "link=" n " " (/[13579bdfBDF]$/ ? "UP" : "DOWN"); next }
    FILENAME ~ /\/route$/ { if (FNR > 1 && d == "" && $2 == "00000000" && $8 == "00000000") d = $1; next }
    FILENAME ~ /\/status$/ { if ($0 == "") p = 0; else if ($0 == "Package: ipvsadm") p = 1; else if (p && sub(/^Version: /, "")) v = v $0; next }
    $0 == "--addr" { s = 1; next }
    $0 == "--route" { s = 2; next }
    s == 0 && /^[0-9]+: / && match($0, /<[^>]*>/) { n = $2; sub(/[@:].*/, "", n); print "link=" n " " substr($0, RSTART + 1, RLENGTH - 2) }
    s == 1 { print "addr=" $2 " " $4 }
    s == 2 && d == "" { for (i = 1; i < NF; i++) if ($i == "dev") { d = $(i + 1); break } }
    END {
      if (hn == "") { c = "hostname 2>/dev/null"; c | getline hn; close(c) }
      if (u == "") { c = "id -un"; c | getline u; close(c) }
      print "hostname=" hn; print "user=" u; print "defroute=" d
      if (db != "") print "ipvsadm_version=" v
    }'
  # Links and route read from files (any kernel with /sys): ip's addresses go straight to the awk,
  # without a shell in between to add the markers (a fork less).
  if [ -n "$links" ] && [ -n "$rt" ]; then ip -o -4 addr show 2>/dev/null | awk "$prog" s=1 db="$db" "$@"
  else { [ -n "$links" ] || ip -o link show; echo --addr; ip -o -4 addr show; echo --route; [ -n "$rt" ] || ip -4 route show default; } 2>/dev/null | awk "$prog" s=0 db="$db" "$@"; fi
else
  echo "hostname=$(hostname 2>/dev/null || cat "$root/proc/sys/kernel/hostname")"
  echo "user=$(id -un)"
  ifconfig -a 2>/dev/null | awk '/^[^ \t]/{iface=$1; sub(":$","",iface); print "link=" iface " UP"} /inet addr:/{split($2,a,":"); print "addr=" iface " " a[2] "/32"}'
  echo "defroute=$(route -n 2>/dev/null | awk '$1=="0.0.0.0"{print $8; exit}')"
fi
`;

/** Every fact. */
export const FACTS_SCRIPT = raw(BASE + COSTLY);
/** Every fact but the costly ones (COSTLY_FACTS), which it leaves empty. */
export const BASE_FACTS_SCRIPT = raw(BASE);

export function parseFacts(stdout: string): HostFacts {
  const kv = new Map<string, string>();
  const links: InterfaceFact[] = [];
  const byName = new Map<string, InterfaceFact>();
  const iface = (name: string): InterfaceFact => {
    let f = byName.get(name);
    if (!f) {
      f = { name, ipv4: [], up: false };
      byName.set(name, f);
      links.push(f);
    }
    return f;
  };
  for (const [key, text] of new KeyValues(stdout).entries()) {
    const value = text.trim();
    if (key === 'link') {
      const [name, flags = ''] = value.split(' ');
      // ifconfig lists an alias label (eth0:1) as an interface; its address belongs to eth0 (below).
      if (!name.includes(':')) iface(name).up = flags.split(',').includes('UP');
    } else if (key === 'addr') {
      const [name, cidr] = value.split(' ');
      if (name && cidr) iface(name.replace(/:.*/, '')).ipv4.push(cidr);
    } else kv.set(key, value.replace(/^"|"$/g, ''));
  }
  const id = (kv.get('os_id') ?? '').toLowerCase();
  const like = (kv.get('os_like') ?? '').toLowerCase();
  const family: OsFamily = /debian|ubuntu/.test(`${id} ${like}`)
    ? 'debian'
    : /rhel|fedora|centos|redhat|rocky|alma/.test(`${id} ${like}`)
      ? 'redhat'
      : 'unknown';
  const release = kv.get('kernel') ?? '';
  const [major = 0, minor = 0] = release.split(/[.-]/).map((n) => Number.parseInt(n, 10));
  const pm = kv.get('pkgmgr');
  const packageManager: PackageManager = pm === 'apt-get' ? 'apt' : pm === 'dnf' || pm === 'yum' || pm === 'up2date' ? pm : 'unknown';
  const db = kv.get('pkgdb');
  return {
    hostname: kv.get('hostname') ?? '',
    os: { family, id, version: kv.get('os_version') ?? '', prettyName: kv.get('os_pretty') ?? '' },
    kernel: { release, major: major || 0, minor: minor || 0 },
    init: (kv.get('init') === 'systemd' ? 'systemd' : 'sysv') as InitSystem,
    packageManager,
    packageDb: db === 'dpkg' || db === 'rpm' ? db : 'unknown',
    interfaces: links,
    defaultInterface: kv.get('defroute') || null,
    arpSysctls: kv.get('arp_sysctls') === '1',
    // rpm -q prints "package ipvsadm is not installed" on stdout when ipvsadm was built from source.
    ipvsadm: { installed: kv.get('ipvsadm') === '1', version: kv.get('ipvsadm_version')?.replace(/^package .* is not installed$/, '') || null },
    ipvsKernel: kv.get('ipvs_kernel') === '1',
    user: kv.get('user') ?? '',
    arch: kv.get('arch') ?? '',
  };
}
