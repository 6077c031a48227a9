// Real servers: the VIP on tunl0 (TUN) or lo (DR) with ARP suppressed, or the director as
// default gateway (NAT); all of it restored at boot.
import type { Play, Playbook, Task, TaskContext } from '../src/core/types.js';
import { argv } from '../src/core/shell.js';
import { command, kernelModule, sourceBuild, sysctl } from '../src/modules/index.js';
import { reloadSystemd } from './lib/handlers.js';
import { ModuleError } from '../src/modules/errors.js';
import { ipAddress } from '../src/lvs/ip-address.js';
import { artifactVar } from '../src/lvs/artifacts.js';
import { forwardingOf, lvsSysctlFile, realServerRoles, vipsOf } from '../src/lvs/model.js';
import { bootUnitTasks } from './lib/boot-unit.js';
import { undoableCommand } from './lib/undoable-command.js';

const PATH_SBIN = 'PATH="$PATH:/sbin:/usr/sbin:/usr/local/sbin"';

/**
 * Runs its argument (a command line) with the running kernel's source tree, configured for that
 * kernel, reachable as /usr/src/linux, where noarp's configure looks for it (the seed copied the
 * tree and linked it there). The copy lives in the build directory; a /usr/src/linux the host had
 * is put back afterwards, whatever happens.
 */
export const WITH_KERNEL_TREE = `K=$(dirname "$STAGE")/kernel
[ -f "$K/.config" ] || { echo "kernel tree $K was not prepared" >&2; exit 1; }
L=/usr/src/linux
saved=
if [ -e "$L" ] || [ -L "$L" ]; then saved="$L.provision-saved"; rm -rf "$saved"; mv "$L" "$saved" || exit 1; fi
trap 'rm -f "$L"; if [ -n "$saved" ]; then mv "$saved" "$L"; fi' 0
ln -s "$K" "$L" || exit 1
KSRC=$K; KERNELDIR=$K; KDIR=$K; export KSRC KERNELDIR KDIR`;

/** A copy of the running kernel's source, configured for it (its config, its EXTRAVERSION), as noarp's build needs. */
export const PREPARE_KERNEL_TREE = `kver=$(uname -r)
extra=$(echo "$kver" | sed 's/^[0-9]*\\.[0-9]*\\.[0-9]*//')
flavour=$(echo "$kver" | sed -n 's/.*\\(smp\\|hugemem\\|BOOT\\|enterprise\\)$/\\1/p')
ksrc=
for d in "/lib/modules/$kver/build" "/usr/src/linux-$kver" "/usr/src/linux-\${kver%$flavour}" "/usr/src/kernels/$kver"; do
  if [ -f "$d/Makefile" ]; then ksrc=$d; break; fi
done
[ -n "$ksrc" ] || { echo "no kernel source tree for $kver: install the kernel-source (EL3/4) or kernel-devel package of the running kernel" >&2; exit 1; }
cfg=/boot/config-$kver
if [ ! -f "$cfg" ]; then
  cfg=$ksrc/configs/kernel-\${kver%%-*}-$(uname -m)\${flavour:+-$flavour}.config
  [ -f "$cfg" ] || { echo "no /boot/config-$kver nor $cfg: cannot configure a kernel tree for $kver" >&2; exit 1; }
fi
K=$(dirname "$STAGE")/kernel
rm -rf "$K" && mkdir -p "$K" && (cd "$ksrc" && tar cf - .) | (cd "$K" && tar xf -) || { echo "cannot copy $ksrc" >&2; exit 1; }
cd "$K" || exit 1
cp "$cfg" .config || exit 1
make EXTRAVERSION="$extra" oldconfig </dev/null >/dev/null || { echo "make oldconfig failed in $K" >&2; exit 1; }
case "$kver" in
  2.4.*) make EXTRAVERSION="$extra" dep >/dev/null || { echo "make dep failed in $K" >&2; exit 1; } ;;
  *) make EXTRAVERSION="$extra" modules_prepare >/dev/null || { echo "make modules_prepare failed in $K" >&2; exit 1; } ;;
esac
# A module built against another release would not load: the tree must say exactly $kver.
grep -qs "\\"$kver\\"" include/linux/version.h include/linux/utsrelease.h include/generated/utsrelease.h || { echo "the configured tree in $K is not $kver" >&2; exit 1; }`;

/** The director's address real servers route through in NAT mode. */
function natGateway(ctx: TaskContext): string {
  const own = ctx.vars.nat_gateway;
  if (typeof own === 'string') return own;
  for (const name of ctx.inventory?.groups.get('directors') ?? []) {
    const dip = ctx.inventory?.hosts.get(name)?.vars.dip;
    if (typeof dip === 'string') return dip;
  }
  throw new ModuleError('lvs', `${ctx.host}: NAT needs the director's dip (or nat_gateway) as default gateway`);
}

export function realServerTasks(ctx: TaskContext): Task[] {
  const roles = realServerRoles(ctx);
  if (roles.length === 0) return [];
  const f = ctx.facts;
  const fwd = forwardingOf(ctx, roles);
  const vips = vipsOf(roles.map((r) => r.service));
  const rip = String(ctx.vars.rip ?? roles[0]!.rs.address);
  const persistFile = lvsSysctlFile(f);
  const sc = (name: string, key: string, value: string) => sysctl({ name, key, value, persistFile });
  const tasks: Task[] = [sc('a real server does not route', 'net.ipv4.ip_forward', '0')];
  const bootSysctls: { key: string; value: string }[] = [];
  const noarp: { vip: string; rip: string }[] = [];
  const arptables: { vip: string; rip: string }[] = [];
  const modules: string[] = [];

  if (fwd === 'nat') {
    const gw = natGateway(ctx);
    tasks.push(command({
      name: `default route via the director ${gw}`,
      cmd: `PATH="$PATH:/sbin:/usr/sbin"; ${argv('ip', 'route', 'replace', 'default', 'via', gw)}`,
      unless: `PATH="$PATH:/sbin:/usr/sbin"; ip -4 route show default | grep -q ${argv(`via ${gw} `)}`,
    }));
    // A redirect from anywhere must not send replies around the director (they would not be un-NATed).
    tasks.push(sc('NAT: ignore ICMP redirects', 'net.ipv4.conf.all.accept_redirects', '0'));
    tasks.push(...bootUnitTasks(ctx, {
      name: 'lvs-realserver', role: 'real server', vipDev: 'lo', vips: [], gateway: gw,
      sysctls: [{ key: 'net.ipv4.conf.all.accept_redirects', value: '0' }],
    }));
    return tasks;
  }

  // ARP: the VIP must be answered by the director only.
  if (f.arpSysctls) {
    tasks.push(sc('answer ARP only for addresses of the asking interface', 'net.ipv4.conf.all.arp_ignore', '1'));
    tasks.push(sc('announce the real IP, never the VIP', 'net.ipv4.conf.all.arp_announce', '2'));
    bootSysctls.push({ key: 'net.ipv4.conf.all.arp_ignore', value: '1' }, { key: 'net.ipv4.conf.all.arp_announce', value: '2' });
  } else if (ctx.vars.arp_method === 'arptables') {
    // arptables: the VIP is never answered, and ARP we send carries the RIP. The boot script
    // re-adds the rules at every boot (no save file needed, nothing to fail silently).
    for (const vip of vips) {
      arptables.push({ vip, rip });
      tasks.push(undoableCommand({
        name: `arptables: drop ARP for ${vip}`,
        cmd: `${PATH_SBIN}; ${argv('arptables', '-A', 'IN', '-d', vip, '-j', 'DROP')} && ${argv('arptables', '-A', 'OUT', '-s', vip, '-j', 'mangle', '--mangle-ip-s', rip)}`,
        unless: `${PATH_SBIN}; arptables -L -n | grep -q -- ${argv(vip)}`,
        undo: `${PATH_SBIN}; ${argv('arptables', '-D', 'IN', '-d', vip, '-j', 'DROP')}; ${argv('arptables', '-D', 'OUT', '-s', vip, '-j', 'mangle', '--mangle-ip-s', rip)}`,
      }));
    }
  } else {
    // Kernels older than 2.4.26/2.6.4 have no arp_ignore: the seed's noarp module, built from
    // source against the running kernel's tree, installed, depmod -a, loaded now and at boot.
    const src = artifactVar(ctx, 'noarp_source');
    if (!src) {
      throw new ModuleError('lvs', `${ctx.host}: kernel ${f.kernel.release} has no arp_ignore/arp_announce; set noarp_source (noarp tarball + sha256) or arp_method: arptables`);
    }
    tasks.push(sourceBuild({
      name: 'noarp', artifact: src.path, sha256: src.sha256, kind: src.kind,
      installedCheck: '[ -x /usr/local/sbin/noarpctl ] && find "/lib/modules/$(uname -r)" -name "noarp.*o" 2>/dev/null | grep -q .',
      buildScript: `top=$(pwd)\n${PREPARE_KERNEL_TREE}\ncd "$top" || exit 1\n${WITH_KERNEL_TREE}\n./configure && make`,
      installScript: `${WITH_KERNEL_TREE}
make install DESTDIR="$STAGE" || exit 1
find "$STAGE" -name 'noarp.*o' | grep -q . || { echo "noarp's make install put no module into $STAGE (does its Makefile honour DESTDIR?)" >&2; exit 1; }
[ -x "$STAGE/usr/local/sbin/noarpctl" ] || { echo "noarp's make install put no usr/local/sbin/noarpctl into $STAGE" >&2; exit 1; }`,
    }));
    tasks.push(command({
      name: 'depmod -a (modprobe finds noarp)',
      cmd: `${PATH_SBIN}; depmod -a`,
      unless: 'grep -q "/noarp\\.k\\{0,1\\}o:" "/lib/modules/$(uname -r)/modules.dep"',
    }));
    tasks.push(kernelModule({ name: 'noarp' }));
    modules.push('noarp');
    for (const vip of vips) {
      noarp.push({ vip, rip });
      tasks.push(undoableCommand({
        name: `noarp: hide ${vip}`,
        cmd: argv('/usr/local/sbin/noarpctl', 'add', vip, rip),
        unless: `/usr/local/sbin/noarpctl list | grep -q -- ${argv(vip)}`,
        undo: argv('/usr/local/sbin/noarpctl', 'del', vip),
      }));
    }
  }

  let vipDev = 'lo';
  if (fwd === 'tun') {
    vipDev = 'tunl0';
    modules.push('ipip');
    tasks.push(kernelModule({ name: 'ipip' }));
    if (f.arpSysctls) {
      // Decapsulated packets arrive on tunl0 with the client's source: strict rp_filter would drop them.
      tasks.push(sc('loose reverse-path filter (all)', 'net.ipv4.conf.all.rp_filter', '0'));
      tasks.push(sc('loose reverse-path filter (tunl0)', 'net.ipv4.conf.tunl0.rp_filter', '0'));
      bootSysctls.push({ key: 'net.ipv4.conf.all.rp_filter', value: '0' }, { key: 'net.ipv4.conf.tunl0.rp_filter', value: '0' });
    }
  }
  for (const vip of vips) tasks.push(ipAddress({ name: `VIP ${vip}/32 on ${vipDev}`, dev: vipDev, address: vip, linkUp: vipDev === 'tunl0' }));
  tasks.push(...bootUnitTasks(ctx, {
    name: 'lvs-realserver', role: 'real server', vipDev, vips, linkUp: vipDev === 'tunl0', modules, sysctls: bootSysctls, noarp, arptables,
  }));
  return tasks;
}

export const realServerPlay: Play = {
  name: 'LVS real servers',
  hosts: 'real_servers',
  tasks: realServerTasks,
  handlers: reloadSystemd,
};

const playbook: Playbook = { name: 'realserver', description: 'LVS real servers (TUN, DR, NAT)', plays: [realServerPlay] };
export default playbook;
