// Fixed inputs of the VM lab image. Everything here is part of the image cache key.

/** Bump when the build recipe changes in a way the inputs below do not capture. */
export const VM_IMAGE_VERSION = 1;

export const VM_CACHE_DIR = process.env.PROVISION_VM_CACHE ?? '/var/cache/provision/vm';

export const VM_SUITE = 'bookworm';

/** Debian packages of the guest root filesystem (mmdebstrap --variant=minbase adds the essentials). */
export const VM_PACKAGES = [
  'systemd-sysv',
  'udev',
  'openssh-server',
  'ipvsadm',
  'iproute2',
  'kmod',
  'procps',
  'busybox',
  'curl',
  'iputils-ping',
  'iputils-arping',
  'mon',
  'mon-client',
  'libtime-period-perl',
  'fping',
  'keepalived',
  'arptables',
  'sudo',
  'perl-base',
];

/**
 * Kernel modules copied (with their dependency closure) into the guest's /lib/modules.
 * Trailing "*" matches by prefix. The kernel builds none of these in.
 */
export const GUEST_MODULES = [
  'ip_vs',
  'ip_vs_*',
  'ipip',
  'tunnel4',
  'ip_tunnel',
  'dummy',
  'virtio_net',
  'virtio_blk',
  'virtio_pci',
  'virtio_console',
  'squashfs',
  'overlay',
  'nf_conntrack',
  'nf_nat',
  'nf_tables',
  'nft_*',
  'nf_nat_ftp',
  'ip_tables',
  'iptable_filter',
  'iptable_nat',
  'iptable_mangle',
  'x_tables',
  'xt_*',
  'arp_tables',
  'arptable_filter',
  'arpt_mangle',
];

/**
 * Loaded by the initramfs, in this order after their dependencies: the root disk
 * (virtio_blk, squashfs, overlay), both NICs and the agent port, so device names
 * exist before systemd starts.
 */
export const INITRAMFS_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_net', 'virtio_console', 'squashfs', 'overlay'];
