// The VM lab's pure parts, without booting anything: initramfs archives, the
// module closure, addressing, the per-VM network config and the qemu command line.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { load } from 'js-yaml';
import { cpioNewc, withParents } from '../../src/lab/vm/cpio.js';
import { hostDataEntries, networkBatch } from '../../src/lab/vm/hostdata.js';
import { moduleClosure, parseModulesDep } from '../../src/lab/vm/kernel.js';
import { inventoryYaml, lvsLabHosts, lvsSection, realServerAddress } from '../../src/lab/vm/layout.js';
import { joinedGroups, macFor, pickMcast } from '../../src/lab/vm/net.js';
import { qemuArgs, type QemuVmSpec } from '../../src/lab/vm/qemu.js';
import { loadInventory } from '../../src/inventory/load.js';

describe('cpio newc writer', () => {
  it('writes an archive GNU cpio extracts with the same names, contents, modes and types', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cpio-'));
    try {
      const archive = cpioNewc([
        { path: 'host/etc/hostname', type: 'file', mode: 0o644, data: 'rs1\n' },
        { path: 'host/etc/ssh/key', type: 'file', mode: 0o600, data: 'secret' },
        { path: 'host/root', type: 'dir', mode: 0o700 },
        { path: 'host/bin/sh', type: 'symlink', mode: 0o777, data: 'busybox' },
        { path: 'odd', type: 'file', mode: 0o755, data: Buffer.from([0, 1, 2]) },
      ]);
      await writeFile(join(dir, 'a.cpio'), archive);
      const listing = execFileSync('cpio', ['-it', '--quiet'], { input: archive }).toString().trim().split('\n');
      assert.deepEqual(listing, ['host', 'host/etc', 'host/etc/hostname', 'host/etc/ssh', 'host/etc/ssh/key', 'host/root', 'host/bin', 'host/bin/sh', 'odd']);
      execFileSync('cpio', ['-idm', '--quiet', '-D', join(dir, 'x')], { input: archive });
      assert.equal(await readFile(join(dir, 'x/host/etc/hostname'), 'utf8'), 'rs1\n');
      assert.deepEqual(await readFile(join(dir, 'x/odd')), Buffer.from([0, 1, 2]));
      assert.equal((await stat(join(dir, 'x/host/etc/ssh/key'))).mode & 0o777, 0o600);
      assert.equal((await stat(join(dir, 'x/host/root'))).mode & 0o777, 0o700);
      assert.equal(
        execFileSync('readlink', [join(dir, 'x/host/bin/sh')])
          .toString()
          .trim(),
        'busybox',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('adds each missing parent once, before its children', () => {
    const out = withParents([
      { path: 'a/b/c', type: 'file', mode: 0o644 },
      { path: 'a/b/d', type: 'file', mode: 0o644 },
    ]).map((e) => e.path);
    assert.deepEqual(out, ['a', 'a/b', 'a/b/c', 'a/b/d']);
  });

  it('refuses absolute and parent-relative paths', () => {
    assert.throws(() => cpioNewc([{ path: '/etc/x', type: 'file', mode: 0o644 }]), /bad path/);
    assert.throws(() => cpioNewc([{ path: 'a/../../x', type: 'file', mode: 0o644 }]), /bad path/);
  });
});

describe('kernel module closure', () => {
  const dep = [
    'kernel/net/netfilter/ipvs/ip_vs.ko: kernel/net/netfilter/nf_conntrack.ko kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko',
    'kernel/net/netfilter/ipvs/ip_vs_rr.ko: kernel/net/netfilter/ipvs/ip_vs.ko kernel/net/netfilter/nf_conntrack.ko kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko',
    'kernel/net/netfilter/ipvs/ip_vs_wrr.ko: kernel/net/netfilter/ipvs/ip_vs.ko kernel/net/netfilter/nf_conntrack.ko kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko',
    'kernel/net/netfilter/nf_conntrack.ko: kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko kernel/lib/libcrc32c.ko',
    'kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko:',
    'kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko:',
    'kernel/lib/libcrc32c.ko:',
    'kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko',
    'kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko',
    'kernel/net/core/failover.ko:',
    'kernel/fs/unrelated.ko:',
  ].join('\n');
  const index = parseModulesDep(dep);

  it('expands prefixes and orders every module after its dependencies', () => {
    const order = moduleClosure(index, ['ip_vs_*', 'virtio_net']);
    assert.equal(new Set(order).size, order.length, 'no duplicates');
    assert.ok(!order.includes('unrelated'));
    for (const m of ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'nf_conntrack', 'libcrc32c', 'failover', 'net_failover', 'virtio_net']) assert.ok(order.includes(m), m);
    for (const [name, entry] of index) {
      if (!order.includes(name)) continue;
      for (const d of entry.deps) assert.ok(order.indexOf(d) < order.indexOf(name), `${d} before ${name}`);
    }
  });

  it('names a module the kernel does not have', () => {
    assert.throws(() => moduleClosure(index, ['ip_vs', 'no_such_mod']), /kernel has no module no_such_mod/);
  });
});

describe('lab addressing', () => {
  it('picks a stable multicast group per lab and skips groups in use', () => {
    const a = pickMcast('lvs:/tmp/a', new Set());
    assert.deepEqual(pickMcast('lvs:/tmp/a', new Set()), a);
    assert.match(a.group, /^230\.\d+\.\d+\.\d+$/);
    assert.ok(a.port >= 20000 && a.port < 40000);
    const b = pickMcast('lvs:/tmp/a', new Set([a.group]));
    assert.notEqual(b.group, a.group);
    assert.notEqual(pickMcast('lvs:/tmp/b', new Set()).group, a.group);
  });

  it('reads joined multicast groups from /proc/net/igmp', async () => {
    assert.ok((await joinedGroups()).has('224.0.0.1'), 'every interface joins all-hosts');
  });

  it('gives each NIC of each host its own MAC', () => {
    const macs = [0, 1, 2, 3].flatMap((i) => [macFor('lvs', i, 0), macFor('lvs', i, 1)]);
    assert.equal(new Set(macs).size, 8);
    for (const m of macs) assert.match(m, /^52:54:00(:[0-9a-f]{2}){3}$/);
  });

  it('numbers real servers around the VIP', () => {
    assert.deepEqual([1, 2, 3, 4].map(realServerAddress), ['10.0.0.16', '10.0.0.17', '10.0.0.19', '10.0.0.20']);
  });
});

describe('per-VM data', () => {
  it('configures the network with one ip -batch file and rejects anything but address tokens', () => {
    const text = networkBatch({ lanInterface: 'eth1', lanAddresses: ['10.0.0.15/24', '10.0.1.1/24'], routes: ['10.0.0.0/24 via 10.0.1.1'] });
    assert.deepEqual(text.trim().split('\n'), [
      'link set lo up',
      'link set eth0 up',
      'addr replace 10.0.2.15/24 dev eth0',
      'link set eth1 up',
      'addr replace 10.0.0.15/24 dev eth1',
      'addr replace 10.0.1.1/24 dev eth1',
      'route replace 10.0.0.0/24 via 10.0.1.1',
    ]);
    assert.throws(() => networkBatch({ lanInterface: 'eth1', lanAddresses: ['10.0.0.1/24\nlink del eth0'], routes: [] }), /not a network token/);
  });

  it('ships the host key and authorized_keys with private modes', () => {
    const entries = hostDataEntries({
      hostname: 'rs1',
      network: { lanInterface: 'eth1', lanAddresses: ['10.0.0.16/24'], routes: [] },
      hostKey: { private: 'PRIVATE', public: 'ssh-ed25519 AAAA' },
      authorizedKeys: ['ssh-ed25519 BBBB'],
      peers: { rs1: '10.0.0.16', director: '10.0.0.15' },
      machineId: '0123456789abcdef0123456789abcdef',
    });
    const by = new Map(entries.map((e) => [e.path, e]));
    assert.equal(by.get('host/etc/ssh/ssh_host_ed25519_key')!.mode, 0o600);
    assert.equal(by.get('host/root/.ssh')!.mode, 0o700);
    assert.equal(by.get('host/root/.ssh/authorized_keys')!.data, 'ssh-ed25519 BBBB\n');
    assert.equal(by.get('host/etc/hostname')!.data, 'rs1\n');
    assert.match(String(by.get('host/etc/hosts')!.data), /^10\.0\.0\.15\tdirector$/m);
    assert.doesNotMatch(String(by.get('host/etc/hosts')!.data), /^10\.0\.0\.16/m);
  });
});

describe('lab layout and inventory', () => {
  it('puts the NAT client on its own subnet routed through the director', () => {
    const hosts = lvsLabHosts({ forwarding: 'nat', realServers: 3 });
    assert.deepEqual(
      hosts.map((h) => h.name),
      ['client', 'director', 'rs1', 'rs2', 'rs3'],
    );
    const client = hosts[0]!;
    assert.deepEqual(client.vars!.lab_lan_addresses, ['10.0.1.10/24']);
    assert.deepEqual(client.vars!.lab_routes, ['10.0.0.0/24 via 10.0.1.1']);
    assert.deepEqual(hosts[1]!.vars!.lab_lan_addresses, ['10.0.0.15/24', '10.0.1.1/24']);
    const inv = load(
      inventoryYaml(
        hosts.map((h, i) => ({ ...h, sshPort: 40000 + i })),
        lvsSection(['rs1', 'rs2', 'rs3'], 'nat'),
        'header',
      ),
    ) as any;
    assert.equal(inv.all.children.real_servers.hosts.rs3.rip, '10.0.0.19');
    assert.equal(inv.all.children.real_servers.hosts.rs3.ansible_port, 40004);
    assert.equal(inv.all.children.clients.hosts.client.lan_address, '10.0.1.10');
    assert.equal(inv.all.children.clients.hosts.client.lab_routes, undefined);
    assert.equal(inv.all.vars.lvs.services[0].forwarding, 'nat');
    assert.deepEqual(inv.all.vars.lvs.services[0].health, { monitor: 'mon', kind: 'http', url: '/', interval: 5, timeout: 3 });
  });

  it('two directors: director2 on a free address; the HA inventory lists both with lvs.ha (and loads), the single one only director', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lab-ha-'));
    try {
      for (const forwarding of ['tun', 'nat'] as const) {
        for (const ha of [true, false]) {
          const hosts = lvsLabHosts({ forwarding, directors: 2, ha });
          assert.deepEqual(
            hosts.map((h) => h.name),
            ['client', 'director', 'director2', 'rs1', 'rs2'],
          );
          assert.deepEqual(hosts[2]!.vars!.lab_lan_addresses, ['10.0.0.13/24']);
          if (forwarding === 'nat') assert.deepEqual(hosts[0]!.vars!.lab_routes, [`10.0.0.0/24 via ${ha ? '10.0.1.2' : '10.0.1.1'}`]);
          const file = join(dir, `inventory-${forwarding}-${ha}.yaml`);
          await writeFile(
            file,
            inventoryYaml(
              hosts.map((h, i) => ({ ...h, sshPort: 40000 + i })),
              lvsSection(['rs1', 'rs2'], forwarding, ha),
              'header',
            ),
          );
          // The real loader: no duplicate VIP, no address collision, the floating addresses free.
          const inv = loadInventory(file);
          assert.deepEqual(inv.groups.get('directors'), ha ? ['director', 'director2'] : ['director']);
          if (ha) {
            assert.deepEqual(inv.lvs!.ha!.priorities, { director: 150, director2: 140 });
            assert.equal(inv.lvs!.ha!.natGateway, forwarding === 'nat' ? '10.0.0.14' : undefined);
            assert.deepEqual(inv.lvs!.ha!.floating, forwarding === 'nat' ? ['10.0.1.2/24'] : []);
          } else assert.equal(inv.lvs!.ha, undefined);
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('qemu command line', () => {
  const vm: QemuVmSpec = {
    name: 'lab/rs1',
    kernel: '/c/vmlinuz',
    initrd: '/l/rs1/initrd.img',
    rootfs: '/c/rootfs.squashfs',
    sshPort: 40001,
    lan: { group: '230.1.2.3', port: 23456 },
    mgmtMac: '52:54:00:aa:00:01',
    lanMac: '52:54:00:aa:01:01',
    accel: 'tcg',
    memoryMb: 384,
    serialLog: '/l/rs1/serial.log',
    pidfile: '/l/rs1/qemu.pid',
    agentSocket: '/l/rs1/agent.sock',
    qmpSocket: '/l/rs1/qmp.sock',
  };

  it('uses loopback-only networking: restricted user NIC forwarded on 127.0.0.1 and a multicast LAN on lo', () => {
    const args = qemuArgs(vm);
    const netdevs = args.filter((_, i) => args[i - 1] === '-netdev');
    assert.deepEqual(netdevs, ['user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:40001-:22', 'socket,id=lan,mcast=230.1.2.3:23456,localaddr=127.0.0.1']);
    assert.ok(args.includes('-nodefaults'));
    assert.ok(args.includes('tcg,thread=multi,tb-size=256'));
    assert.ok(args.some((a) => a.includes('readonly=on')));
    assert.match(args[args.indexOf('-append') + 1]!, /net\.ifnames=0/);
  });

  it('starts from a saved state only when asked, with the QMP socket to pause and save it', () => {
    const args = qemuArgs(vm);
    assert.equal(args[args.indexOf('-qmp') + 1], 'unix:/l/rs1/qmp.sock,server=on,wait=off');
    assert.ok(!args.includes('-incoming'));
    const restored = qemuArgs(vm, "exec:cat '/l/rs1/snapshot-web.vmstate'");
    assert.equal(restored[restored.indexOf('-incoming') + 1], "exec:cat '/l/rs1/snapshot-web.vmstate'");
  });

  it('switches to KVM when asked', () => {
    const args = qemuArgs({ ...vm, accel: 'kvm' });
    assert.equal(args[args.indexOf('-accel') + 1], 'kvm');
    assert.equal(args[args.indexOf('-cpu') + 1], 'host');
  });
});
