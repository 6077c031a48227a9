// Facts: one POSIX sh script, one round trip, parsed into HostFacts. Playbooks branch on these.
import { raw } from './shell.js';
import { KeyValues } from './key-values.js';
import type { HostFacts, InitSystem, OsFamily, PackageManager, InterfaceFact } from './types.js';

export const FACTS_SCRIPT = raw(String.raw`
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
echo "hostname=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
# One uname for both (it prints the release before the machine, whatever the order asked).
set -- $(uname -r -m)
echo "kernel=$1"
echo "arch=$2"
kr=$1
echo "user=$(id -un)"
if [ -r /etc/os-release ]; then
  . /etc/os-release
  echo "os_id=$ID"; echo "os_like=$ID_LIKE"; echo "os_version=$VERSION_ID"; echo "os_pretty=$PRETTY_NAME"
elif [ -r /etc/redhat-release ]; then
  echo "os_id=redhat"; echo "os_like=rhel"; echo "os_pretty=$(cat /etc/redhat-release)"
  echo "os_version=$(sed -n 's/.*release \([0-9.]*\).*/\1/p' /etc/redhat-release)"
elif [ -r /etc/debian_version ]; then
  echo "os_id=debian"; echo "os_version=$(cat /etc/debian_version)"; echo "os_pretty=Debian $(cat /etc/debian_version)"
fi
if [ -d /run/systemd/system ]; then echo init=systemd; else echo init=sysv; fi
for pm in apt-get dnf yum up2date; do if command -v $pm >/dev/null 2>&1; then echo "pkgmgr=$pm"; break; fi; done
if command -v dpkg-query >/dev/null 2>&1; then echo pkgdb=dpkg; elif command -v rpm >/dev/null 2>&1; then echo pkgdb=rpm; fi
if [ -e /proc/sys/net/ipv4/conf/all/arp_ignore ]; then echo arp_sysctls=1; else echo arp_sysctls=0; fi
# modinfo only looks under /lib/modules/RELEASE: without it (a container) there is nothing to find.
if [ -e /proc/net/ip_vs ] || [ -d /sys/module/ip_vs ] || { [ -d "/lib/modules/$kr" ] && modinfo ip_vs >/dev/null 2>&1; }; then echo ipvs_kernel=1; else echo ipvs_kernel=0; fi
if command -v ipvsadm >/dev/null 2>&1 || [ -x /sbin/ipvsadm ]; then
  echo ipvsadm=1
  v=$(dpkg-query -W -f='${'$'}{Version}' ipvsadm 2>/dev/null || rpm -q --qf '%{VERSION}-%{RELEASE}' ipvsadm 2>/dev/null)
  echo "ipvsadm_version=$v"
else echo ipvsadm=0; fi
if command -v ip >/dev/null 2>&1; then
  # Links, addresses and the default route through one awk (one process, not a pipeline each).
  { ip -o link show; echo --addr; ip -o -4 addr show; echo --route; ip -4 route show default; } 2>/dev/null | awk '
    $0 == "--addr" { s = 1; next }
    $0 == "--route" { s = 2; next }
    s == 0 && /^[0-9]+: / && match($0, /<[^>]*>/) { n = $2; sub(/[@:].*/, "", n); print "link=" n " " substr($0, RSTART + 1, RLENGTH - 2) }
    s == 1 { print "addr=" $2 " " $4 }
    s == 2 && d == "" { for (i = 1; i < NF; i++) if ($i == "dev") { d = $(i + 1); break } }
    END { print "defroute=" d }'
else
  ifconfig -a 2>/dev/null | awk '/^[^ \t]/{iface=$1; sub(":$","",iface); print "link=" iface " UP"} /inet addr:/{split($2,a,":"); print "addr=" iface " " a[2] "/32"}'
  echo "defroute=$(route -n 2>/dev/null | awk '$1=="0.0.0.0"{print $8; exit}')"
fi
`);

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
