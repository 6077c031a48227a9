// Loopback-only addressing of a VM lab: forwarded SSH ports on 127.0.0.1, a
// per-lab multicast group for the LAN (on lo), and stable MAC addresses.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

export interface McastEndpoint {
  group: string;
  port: number;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (qemu binds it; a lost race is retried by the caller). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

/** Multicast groups some socket on this machine has joined (/proc/net/igmp prints them byte-reversed hex). */
export async function joinedGroups(): Promise<Set<string>> {
  const text = await readFile('/proc/net/igmp', 'utf8').catch(() => '');
  const groups = new Set<string>();
  for (const m of text.matchAll(/^\s+([0-9A-F]{8})\s/gm)) {
    const hex = m[1]!;
    groups.add([6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.'));
  }
  return groups;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * The LAN endpoint of a lab: 230.x.y.z:port derived from `seed` (lab name + dir),
 * skipping groups already joined on this machine so two labs never share a LAN.
 */
export function pickMcast(seed: string, inUse: ReadonlySet<string>): McastEndpoint {
  for (let salt = 0; salt < 64; salt++) {
    const h = digest(`${seed}#${salt}`);
    const group = `230.${h[0]}.${h[1]}.${1 + (h[2]! % 254)}`;
    if (inUse.has(group)) continue;
    return { group, port: 20000 + (h.readUInt16BE(3) % 20000) };
  }
  throw new Error(`no free multicast group for ${seed}`);
}

/** Locally administered, stable per lab/host/NIC: 52:54:00:LL:NN:HH. */
export function macFor(seed: string, hostIndex: number, nic: number): string {
  const lab = digest(seed)[0]!;
  return ['52', '54', '00', lab, nic, hostIndex + 1].map((b) => (typeof b === 'number' ? b.toString(16).padStart(2, '0') : b)).join(':');
}
