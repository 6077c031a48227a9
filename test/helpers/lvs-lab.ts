// A container lab shaped like the seed (director + two real servers) and an inventory for it
// with an lvs section. Container hosts share this machine's kernel, which has no IPVS and no
// ipip: they prove files, sysctls, addresses and services; the VM lab proves traffic.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { labUp, type LabUpResult } from '../../src/lab/index.js';

export interface LvsLab {
  lab: LabUpResult;
  inventory: string;
  vip: string;
  addr: Record<string, string>;
}

export async function lvsContainerLab(name: string, o: { forwarding: 'dr' | 'tun' | 'nat'; port: number }): Promise<LvsLab> {
  const lab = await labUp({
    name,
    hosts: [
      { name: 'director', groups: ['directors'] },
      { name: 'rs1', groups: ['real_servers'] },
      { name: 'rs2', groups: ['real_servers'] },
    ],
  });
  const addr = Object.fromEntries(lab.hosts.map((h) => [h.name, h.address]));
  const vip = addr.director!.replace(/\.\d+$/, '.100');
  const inv = yaml.load(readFileSync(lab.inventory, 'utf8')) as any;
  inv.all.children.directors.hosts.director = { ...inv.all.children.directors.hosts.director, dip: addr.director, lan_interface: 'eth0' };
  for (const rs of ['rs1', 'rs2']) inv.all.children.real_servers.hosts[rs] = { ...inv.all.children.real_servers.hosts[rs], rip: addr[rs] };
  inv.all.vars.lvs = {
    services: [
      {
        name: 'web',
        vip,
        port: o.port,
        protocol: 'tcp',
        scheduler: 'rr',
        forwarding: o.forwarding,
        real_servers: [
          { host: 'rs1', weight: 1 },
          { host: 'rs2', weight: 2 },
        ],
        health: { monitor: 'mon', kind: 'http', url: '/', interval: 5, timeout: 3 },
      },
    ],
  };
  inv.all.vars.demo_port = o.port;
  const inventory = join(lab.dir, 'lvs.yaml');
  writeFileSync(inventory, yaml.dump(inv));
  return { lab, inventory, vip, addr };
}
