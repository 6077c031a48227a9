// Text of the programs that run inside the VMs: the initramfs /init, the lab's
// systemd units and the agent. All of it is part of the image cache key.

/**
 * initramfs /init (busybox sh): load the disk/NIC modules, mount the squashfs disk
 * under a tmpfs-backed overlay, copy this VM's files (/host, from the appended
 * per-VM cpio) into it, and hand over to systemd. Any failure powers off, which
 * ends qemu (-no-reboot) so the controller sees a dead VM and the log says why.
 */
export const INITRAMFS_INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /lower /rw /newroot
/bin/busybox --install -s /bin
mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
fail() { echo "lab-init: $*"; poweroff -f; }
while read -r m; do insmod "/modules/$m.ko" || fail "insmod $m"; done < /modules/load.order
i=0
while [ ! -b /dev/vda ]; do
  i=$((i + 1)); [ "$i" -gt 400 ] && fail "no /dev/vda"
  usleep 25000
done
mount -t squashfs -o ro /dev/vda /lower || fail "mount squashfs"
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "mount tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "mount overlay"
[ -d /host ] || fail "no per-VM data (/host)"
cp -a /host/. /newroot/ || fail "copy per-VM data"
for d in dev proc sys; do mount --move "/$d" "/newroot/$d" || fail "move /$d"; done
exec switch_root /newroot /sbin/init
echo "lab-init: switch_root failed"
poweroff -f
`;

/** Applies the per-VM network script (written at boot from the per-VM data) before sshd starts. */
export const LAB_NETWORK_UNIT = `[Unit]
Description=Lab network: management and LAN addresses of this VM
Before=network-pre.target network.target ssh.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
# One ip process for all of it: every exec costs ~0.5 s under TCG.
ExecStart=/usr/sbin/ip -batch /etc/lab/network.ip

[Install]
WantedBy=multi-user.target
`;

export const LAB_AGENT_UNIT = `[Unit]
Description=Lab agent: runs controller commands over the virtio-serial port lab.agent

[Service]
Environment=HOME=/root
ExecStart=/usr/local/sbin/lab-agent
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`;

/**
 * The agent answers one request per line: "ID TIMEOUT BASE64(script)" ->
 * "ID CODE xBASE64(stdout) xBASE64(stderr)" (the x keeps empty fields present).
 * It lets the controller reach a VM whose sshd is stopped.
 * While no controller is connected the port reads EOF at once, so the agent polls; it
 * waits with bash's builtin "read -t" on a FIFO it holds open itself, not "sleep": a
 * fork+exec five times a second cost each idle VM ~19% of a host core under TCG
 * (4 idle VMs: 76% of a core with sleep, 6% with this; node dist/bench/vm-idle.js).
 */
export const LAB_AGENT_SCRIPT = `#!/bin/bash
port=
for n in /sys/class/virtio-ports/*/name; do
  [ "$(cat "$n" 2>/dev/null)" = lab.agent ] && port="/dev/$(basename "$(dirname "$n")")"
done
[ -n "$port" ] || { echo "lab-agent: no virtio port named lab.agent" >&2; exit 1; }
exec 3<>"$port"
tmp=$(mktemp -d)
mkfifo "$tmp/idle" && exec 4<>"$tmp/idle" # never written: read -t on it is a sleep without a process
while :; do
  if IFS=' ' read -r id secs cmd <&3; then
    printf '%s' "$cmd" | base64 -d > "$tmp/cmd"
    code=0
    timeout "$secs" sh "$tmp/cmd" </dev/null >"$tmp/out" 2>"$tmp/err" || code=$?
    printf '%s %s x%s x%s\\n' "$id" "$code" "$(base64 -w0 <"$tmp/out")" "$(base64 -w0 <"$tmp/err")" >&3
  else
    read -r -t 0.2 -u 4 || true # no controller connected: the port reads EOF
  fi
done
`;

export const SSHD_LAB_CONF = [
  // Each VM gets only an ed25519 key; naming it keeps sshd from complaining about rsa/ecdsa.
  'HostKey /etc/ssh/ssh_host_ed25519_key',
  'PermitRootLogin prohibit-password',
  'PasswordAuthentication no',
  'KbdInteractiveAuthentication no',
  'MaxSessions 20',
  'MaxStartups 100:30:200',
  'UseDNS no',
  '',
].join('\n');

/** Units enabled/disabled/masked in the image, so a booted VM reaches "running" with nothing failed. */
export const ENABLE_UNITS = ['lab-network.service', 'lab-agent.service', 'ssh.service'];
/** Installed but configured by provision's playbooks, not started by the lab. */
export const DISABLE_UNITS = ['mon.service', 'keepalived.service', 'e2scrub_reap.service', 'apt-daily.timer', 'apt-daily-upgrade.timer', 'fstrim.timer'];
/**
 * No VGA consoles, no time source, no modules these units would load (not in the
 * image): under TCG each costs seconds of the VM's single CPU, for nothing.
 */
export const MASK_UNITS = [
  'getty@tty1.service',
  'getty-static.service',
  'systemd-timesyncd.service',
  'systemd-networkd-wait-online.service',
  'modprobe@configfs.service',
  'modprobe@dm_mod.service',
  'modprobe@drm.service',
  'modprobe@efi_pstore.service',
  'modprobe@fuse.service',
  'modprobe@loop.service',
  'dev-hugepages.mount',
  'sys-kernel-debug.mount',
  'sys-kernel-tracing.mount',
];
