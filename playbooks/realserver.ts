// Real servers: the VIP on tunl0 (TUN) or lo (DR) with ARP suppressed, or the director as
// default gateway (NAT); all of it restored at boot.
import type { Play, Playbook, Task, TaskContext } from '../src/core/types.js';
import { SBIN_PATH, raw, sh } from '../src/core/shell.js';
import { command, kernelModule, sourceBuild, sysctl } from '../src/modules/index.js';
import { reloadSystemd } from './lib/handlers.js';
import { ModuleError } from '../src/modules/errors.js';
import { ipAddress } from '../src/modules/ip-address.js';
import { defaultRoute } from '../src/modules/default-route.js';
import { artifactVar } from '../src/lvs/artifacts.js';
import { forwardingOf, lvsPreflight, lvsSysctlFile, realServerRoles, vipsOf } from '../src/lvs/model.js';
import { bootUnitTasks } from './lib/boot-unit.js';
import { tagged } from './lib/tags.js';

/**
 * Runs its argument (a command line) with the running kernel's source tree, configured for that
 * kernel, reachable as /usr/src/linux, where noarp's configure looks for it (the seed copied the
 * tree and linked it there). The copy lives in the build directory; a /usr/src/linux the host had
 * is put back afterwards, whatever happens.
 */
export const WITH_KERNEL_TREE = raw(`K=$(dirname "$STAGE")/kernel
[ -f "$K/.config" ] || { echo "kernel tree $K was not prepared" >&2; exit 1; }
L=/usr/src/linux
saved=
if [ -e "$L" ] || [ -L "$L" ]; then saved="$L.provision-saved"; rm -rf "$saved"; mv "$L" "$saved" || exit 1; fi
trap 'rm -f "$L"; if [ -n "$saved" ]; then mv "$saved" "$L"; fi' 0
ln -s "$K" "$L" || exit 1
KSRC=$K; KERNELDIR=$K; KDIR=$K; export KSRC KERNELDIR KDIR`);

/** A copy of the running kernel's source, configured for it (its config, its EXTRAVERSION), as noarp's build needs. */
export const PREPARE_KERNEL_TREE = raw(`kver=$(uname -r)
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
grep -qs "\\"$kver\\"" include/linux/version.h include/linux/utsrelease.h include/generated/utsrelease.h || { echo "the configured tree in $K is not $kver" >&2; exit 1; }`);

/** The director's address real servers route through in NAT mode. */
function natGateway(ctx: TaskContext): string {
  const own = ctx.vars.nat_gateway;
  if (typeof own === 'string') return own;
  // Two directors (lvs.ha): the floating gateway follows the master, so the replies do too.
  const floating = ctx.inventory?.lvs?.ha?.natGateway;
  if (floating) return floating;
  for (const name of ctx.inventory?.groups.get('directors') ?? []) {
    const dip = ctx.inventory?.hosts.get(name)?.vars.dip;
    if (typeof dip === 'string') return dip;
  }
  throw new ModuleError('lvs', `${ctx.host}: NAT needs the director's dip (or nat_gateway) as default gateway`);
}

/** What a real server's boot unit restores, collected by the strategies below. */
interface BootState {
  sysctls: { key: string; value: string }[];
  noarp: { vip: string; rip: string }[];
  arptables: { vip: string; rip: string }[];
  modules: string[];
}

type SysctlTask = (name: string, key: string, value: string) => Task;

/** NAT: replies go back through the director (default route), and no redirect sends them around it. */
function natTasks(ctx: TaskContext, sc: SysctlTask): Task[] {
  const gw = natGateway(ctx);
  return [
    // Undoable: a rollback puts back the gateway it replaced (e.g. the director's dip after an HA run).
    defaultRoute({ name: `default route via the director ${gw}`, via: gw }),
    // A redirect from anywhere must not send replies around the director (they would not be un-NATed).
    sc('NAT: ignore ICMP redirects', 'net.ipv4.conf.all.accept_redirects', '0'),
    ...bootUnitTasks(ctx, {
      name: 'lvs-realserver',
      role: 'real server',
      vipDev: 'lo',
      vips: [],
      gateway: gw,
      sysctls: [{ key: 'net.ipv4.conf.all.accept_redirects', value: '0' }],
    }),
  ];
}

/** ARP by sysctl (kernel >= 2.4.26/2.6.4): answer only for the asking interface, announce the RIP. */
function arpSysctlTasks(sc: SysctlTask, boot: BootState): Task[] {
  boot.sysctls.push({ key: 'net.ipv4.conf.all.arp_ignore', value: '1' }, { key: 'net.ipv4.conf.all.arp_announce', value: '2' });
  return [
    sc('answer ARP only for addresses of the asking interface', 'net.ipv4.conf.all.arp_ignore', '1'),
    sc('announce the real IP, never the VIP', 'net.ipv4.conf.all.arp_announce', '2'),
  ];
}

/**
 * ARP by arptables: the VIP is never answered, and ARP we send carries the RIP. The boot script
 * re-adds the rules at every boot (no save file needed, nothing to fail silently).
 */
function arptablesTasks(vips: string[], rip: string, boot: BootState): Task[] {
  return vips.map((vip) => {
    boot.arptables.push({ vip, rip });
    return command({
      name: `arptables: drop ARP for ${vip}`,
      cmd: sh`${SBIN_PATH}; arptables -A IN -d ${vip} -j DROP && arptables -A OUT -s ${vip} -j mangle --mangle-ip-s ${rip}`,
      unless: sh`${SBIN_PATH}; arptables -L -n | grep -q -- ${vip}`,
      undo: sh`${SBIN_PATH}; arptables -D IN -d ${vip} -j DROP; arptables -D OUT -s ${vip} -j mangle --mangle-ip-s ${rip}`,
    });
  });
}

/**
 * ARP by the seed's noarp module (kernels older than 2.4.26/2.6.4 have no arp_ignore): built from
 * source against the running kernel's tree, installed, depmod -a, loaded now and at boot.
 */
function noarpTasks(ctx: TaskContext, vips: string[], rip: string, boot: BootState): Task[] {
  const src = artifactVar(ctx, 'noarp_source');
  if (!src) {
    throw new ModuleError(
      'lvs',
      `${ctx.host}: kernel ${ctx.facts.kernel.release} has no arp_ignore/arp_announce; set noarp_source (noarp tarball + sha256) or arp_method: arptables`,
    );
  }
  const tasks: Task[] = [
    sourceBuild({
      name: 'noarp',
      artifact: src.path,
      sha256: src.sha256,
      kind: src.kind,
      installedCheck: raw('[ -x /usr/local/sbin/noarpctl ] && find "/lib/modules/$(uname -r)" -name "noarp.*o" 2>/dev/null | grep -q .'),
      buildScript: sh`top=$(pwd)\n${PREPARE_KERNEL_TREE}\ncd "$top" || exit 1\n${WITH_KERNEL_TREE}\n./configure && make`,
      installScript: sh`${WITH_KERNEL_TREE}
make install DESTDIR="$STAGE" || exit 1
find "$STAGE" -name 'noarp.*o' | grep -q . || { echo "noarp's make install put no module into $STAGE (does its Makefile honour DESTDIR?)" >&2; exit 1; }
[ -x "$STAGE/usr/local/sbin/noarpctl" ] || { echo "noarp's make install put no usr/local/sbin/noarpctl into $STAGE" >&2; exit 1; }`,
    }),
    command({
      name: 'depmod -a (modprobe finds noarp)',
      cmd: sh`${SBIN_PATH}; depmod -a`,
      unless: raw('grep -q "/noarp\\.k\\{0,1\\}o:" "/lib/modules/$(uname -r)/modules.dep"'),
    }),
    kernelModule({ name: 'noarp' }),
  ];
  boot.modules.push('noarp');
  for (const vip of vips) {
    boot.noarp.push({ vip, rip });
    tasks.push(
      command({
        name: `noarp: hide ${vip}`,
        cmd: sh`/usr/local/sbin/noarpctl add ${vip} ${rip}`,
        unless: sh`/usr/local/sbin/noarpctl list | grep -q -- ${vip}`,
        undo: sh`/usr/local/sbin/noarpctl del ${vip}`,
      }),
    );
  }
  return tasks;
}

/** The ARP method: `arp_method` when set, else sysctls where the kernel has them, else noarp. */
function arpTasks(ctx: TaskContext, sc: SysctlTask, vips: string[], rip: string, boot: BootState): Task[] {
  const method = ctx.vars.arp_method ?? (ctx.facts.arpSysctls ? 'sysctl' : 'noarp');
  if (method === 'sysctl') {
    if (!ctx.facts.arpSysctls)
      throw new ModuleError(
        'lvs',
        `${ctx.host}: arp_method sysctl, but kernel ${ctx.facts.kernel.release} has no arp_ignore/arp_announce (use noarp or arptables)`,
      );
    return arpSysctlTasks(sc, boot);
  }
  if (method === 'arptables') return arptablesTasks(vips, rip, boot);
  return noarpTasks(ctx, vips, rip, boot);
}

/** TUN: the VIP on tunl0 (ipip loaded) and no strict reverse-path filter on the decapsulated packets. */
function tunTasks(ctx: TaskContext, sc: SysctlTask, boot: BootState): Task[] {
  boot.modules.push('ipip');
  const tasks: Task[] = [kernelModule({ name: 'ipip' })];
  if (ctx.facts.arpSysctls) {
    // Decapsulated packets arrive on tunl0 with the client's source: strict rp_filter would drop them.
    tasks.push(sc('loose reverse-path filter (all)', 'net.ipv4.conf.all.rp_filter', '0'));
    tasks.push(sc('loose reverse-path filter (tunl0)', 'net.ipv4.conf.tunl0.rp_filter', '0'));
    boot.sysctls.push({ key: 'net.ipv4.conf.all.rp_filter', value: '0' }, { key: 'net.ipv4.conf.tunl0.rp_filter', value: '0' });
  }
  return tasks;
}

export function realServerTasks(ctx: TaskContext): Task[] {
  const roles = realServerRoles(ctx);
  if (roles.length === 0) return [];
  const fwd = forwardingOf(ctx, roles);
  const vips = vipsOf(roles.map((r) => r.service));
  const rip = String(ctx.vars.rip ?? roles[0]!.rs.address);
  const persistFile = lvsSysctlFile(ctx.facts);
  const sc: SysctlTask = (name, key, value) => sysctl({ name, key, value, persistFile });
  const tasks: Task[] = [sc('a real server does not route', 'net.ipv4.ip_forward', '0')];
  if (fwd === 'nat') return [...tasks, ...natTasks(ctx, sc)];

  // TUN and DR: the VIP on the real server, answered by the director only.
  const boot: BootState = { sysctls: [], noarp: [], arptables: [], modules: [] };
  tasks.push(...arpTasks(ctx, sc, vips, rip, boot));
  const vipDev = fwd === 'tun' ? 'tunl0' : 'lo';
  if (fwd === 'tun') tasks.push(...tunTasks(ctx, sc, boot));
  for (const vip of vips) tasks.push(ipAddress({ name: `VIP ${vip}/32 on ${vipDev}`, dev: vipDev, address: vip, linkUp: vipDev === 'tunl0' }));
  tasks.push(
    ...bootUnitTasks(ctx, {
      name: 'lvs-realserver',
      role: 'real server',
      vipDev,
      vips,
      linkUp: vipDev === 'tunl0',
      ...boot,
    }),
  );
  return tasks;
}

export const realServerPlay: Play = {
  name: 'LVS real servers',
  hosts: 'real_servers',
  tasks: tagged('realserver', realServerTasks),
  handlers: reloadSystemd,
};

const playbook: Playbook = { name: 'realserver', description: 'LVS real servers (TUN, DR, NAT)', plays: [realServerPlay], preflight: lvsPreflight };
export default playbook;
