// A VM's own data, delivered as a second cpio appended to the shared initramfs:
// the initramfs /init copies /host/* over the root before systemd starts.
import { randomBytes } from 'node:crypto';
import type { CpioEntry } from './cpio.js';

export interface VmNetwork {
  /** LAN interface name inside the VM. */
  lanInterface: string;
  /** CIDR addresses on the LAN interface, first = primary. */
  lanAddresses: string[];
  /** Extra routes, as `ip route replace` arguments: "10.0.0.0/24 via 10.0.1.1". */
  routes: string[];
}

export interface VmHostData {
  hostname: string;
  network: VmNetwork;
  /** ed25519 host key (OpenSSH private key text) and its public line. */
  hostKey: { private: string; public: string };
  /** Lines of root's authorized_keys. */
  authorizedKeys: string[];
  /** name -> LAN address, for /etc/hosts (the lab's hosts know each other by name). */
  peers: Record<string, string>;
  machineId?: string;
}

/** Management NIC: qemu user networking's fixed guest address; no default route (replies to 10.0.2.2 are on-link). */
export const MGMT_INTERFACE = 'eth0';
export const MGMT_ADDRESS = '10.0.2.15/24';

const token = (s: string) => {
  if (!/^[A-Za-z0-9_.:/-]+$/.test(s)) throw new RangeError(`not a network token: ${JSON.stringify(s)}`);
  return s;
};

/** `ip -batch` input (one command per line, no shell): lab-network.service applies it. */
export function networkBatch(net: VmNetwork): string {
  const lan = token(net.lanInterface);
  const lines = [
    'link set lo up',
    `link set ${MGMT_INTERFACE} up`,
    `addr replace ${MGMT_ADDRESS} dev ${MGMT_INTERFACE}`,
    `link set ${lan} up`,
    ...net.lanAddresses.map((a) => `addr replace ${token(a)} dev ${lan}`),
    ...net.routes.map((r) => `route replace ${r.trim().split(/\s+/).map(token).join(' ')}`),
  ];
  return lines.join('\n') + '\n';
}

export function hostsFile(hostname: string, peers: Record<string, string>): string {
  const lines = ['127.0.0.1\tlocalhost', `127.0.1.1\t${hostname}`, '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const [name, addr] of Object.entries(peers)) if (name !== hostname) lines.push(`${addr}\t${name}`);
  return lines.join('\n') + '\n';
}

/** cpio entries under host/ (see INITRAMFS_INIT). */
export function hostDataEntries(d: VmHostData): CpioEntry[] {
  const f = (path: string, data: string, mode = 0o644): CpioEntry => ({ path: `host/${path}`, type: 'file', mode, data });
  return [
    { path: 'host', type: 'dir', mode: 0o755 },
    f('etc/hostname', `${d.hostname}\n`),
    f('etc/hosts', hostsFile(d.hostname, d.peers)),
    f('etc/machine-id', `${d.machineId ?? randomBytes(16).toString('hex')}\n`, 0o444),
    f('etc/lab/network.ip', networkBatch(d.network)),
    f('etc/ssh/ssh_host_ed25519_key', d.hostKey.private, 0o600),
    f('etc/ssh/ssh_host_ed25519_key.pub', `${d.hostKey.public}\n`),
    { path: 'host/root', type: 'dir', mode: 0o700 },
    { path: 'host/root/.ssh', type: 'dir', mode: 0o700 },
    f('root/.ssh/authorized_keys', d.authorizedKeys.map((k) => `${k}\n`).join(''), 0o600),
  ];
}
