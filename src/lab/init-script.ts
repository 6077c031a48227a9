// The two scripts that boot a container host. init.sh runs as pid 1 of the host's
// new pid namespace (outside the chroot): it assembles the root and then execs the
// supervisor, which stays pid 1 inside the chroot, runs sshd, and reaps orphans.
import { sh } from '../core/shell.js';

/** Where the supervisor is written inside each host (via its overlay upper dir). */
export const SUPERVISOR_PATH = 'usr/local/sbin/lab-init';

// SIGUSR2 stops sshd and SIGUSR1 starts it, so a test can take sshd away while the host lives.
export const SUPERVISOR = `#!/bin/sh
# pid 1 of a provision lab host: runs sshd, reaps orphans. USR1 starts sshd, USR2 stops it.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
sshd=""
start() { if [ -z "$sshd" ] || ! kill -0 "$sshd" 2>/dev/null; then /usr/sbin/sshd -D -e -h /etc/ssh/ssh_host_ed25519_key & sshd=$!; fi; }
stop() { if [ -n "$sshd" ]; then kill "$sshd" 2>/dev/null; wait "$sshd" 2>/dev/null; sshd=""; fi; }
trap start USR1
trap stop USR2
trap 'stop; exit 0' TERM INT
start
while :; do sleep 3600 & nap=$!; wait "$nap" || kill "$nap" 2>/dev/null; done
`;

export interface InitParams {
  hostname: string;
  /** CIDR address for eth0, e.g. "10.213.7.11/24". */
  address: string;
  lower: string;
  upper: string;
  work: string;
  root: string;
  /** File to receive this pid 1's pid as the controller sees it. */
  pidFile: string;
}

export function renderInit(p: InitParams): string {
  return sh`#!/bin/sh
# Boots lab host ${p.hostname}; runs in its own net, mount, uts and pid namespaces.
set -eu
# /proc is still the controller's here, so /proc/self/stat holds our pid as the controller sees it.
read -r outer_pid _ < /proc/self/stat
echo "$outer_pid" > ${p.pidFile}
# Idempotent: a host rebooted after its pid 1 died keeps its netns and eth0.
# No default route: a lab host reaches its subnet and the controller, never the real network.
ip link set lo up
ip addr replace ${p.address} dev eth0
ip link set eth0 up
R=${p.root}
mount -t overlay overlay -o ${`lowerdir=${p.lower},upperdir=${p.upper},workdir=${p.work}`} "$R"
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
# Only /proc/sys/net belongs to the host's namespace; the rest is the real kernel's: read-only.
mount --bind "$R/proc/sys" "$R/proc/sys"
mount --bind "$R/proc/sys/net" "$R/proc/sys/net"
mount -o remount,bind,ro "$R/proc/sys"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
# A private /dev with only harmless nodes, not the machine's disks.
mount -t tmpfs -o nosuid,noexec,mode=0755,size=1m tmpfs "$R/dev"
for d in null zero full random urandom tty; do : > "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d"; done
mkdir -m 0755 "$R/dev/pts"
mkdir -m 1777 "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$R/dev/shm"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs "$R/run"
mkdir -m 0755 "$R/run/sshd"
mkdir -m 1777 "$R/run/lock"
hostname ${p.hostname}
echo "lab host ${p.hostname} booted; starting sshd" >&2
exec chroot "$R" /bin/sh /${SUPERVISOR_PATH}
`.text;
}
