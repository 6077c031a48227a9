// `lab up/down/status`: the built-in lab of real SSH hosts (containers or qemu VMs).
import { Command, Option } from 'commander';
import { labDir, labDown, labStatus, labUp } from '../lab/index.js';
import { vmLabUp } from '../lab/vm/lab.js';
import { err, intArg } from './common.js';

export function registerLabCommands(program: Command): void {
  const lab = program.command('lab').description('the built-in lab of real SSH hosts (used by the tests and the demo)');
  lab.command('up')
    .description('start lab hosts and write <dir>/inventory.yaml (container: sshd in namespaces; vm: qemu VMs with an IPVS kernel, LVS layout)')
    .option('--name <name>', 'lab name', 'default')
    .addOption(new Option('--driver <driver>', 'container hosts or VMs').choices(['container', 'vm']).default('container'))
    .option('--hosts <n>', 'container: number of hosts', intArg(1, 250), 3)
    .addOption(new Option('--forwarding <method>', 'vm: LVS forwarding written to the lab inventory').choices(['tun', 'dr', 'nat']).default('tun'))
    .option('--real-servers <n>', 'vm: number of real servers', intArg(1, 200), 2)
    .action(async (f: { name: string; hosts: number; driver: 'container' | 'vm'; forwarding: 'tun' | 'dr' | 'nat'; realServers: number }) => {
      if (f.driver === 'vm') {
        const r = await vmLabUp({ name: f.name, dir: labDir(f.name), forwarding: f.forwarding, realServers: f.realServers, log: err });
        process.stdout.write(`lab ${f.name}: ${r.hosts.length} VMs up; inventory: ${r.inventory}\n`);
        for (const h of r.hosts) process.stdout.write(`  ${h.name}  ssh 127.0.0.1:${h.sshPort}  lan ${h.lanAddress}\n`);
        process.stdout.write(`timings (ms): ${JSON.stringify(r.timings)}\n`);
        return;
      }
      const r = await labUp({ name: f.name, hosts: f.hosts });
      process.stdout.write(`lab ${f.name}: ${r.hosts.length} hosts up; inventory: ${r.inventory}\n`);
      for (const h of r.hosts) process.stdout.write(`  ${h.name}  ${h.address}\n`);
      process.stdout.write(`timings (ms): ${JSON.stringify(r.timings)}\n`);
    });
  lab.command('down').description('stop the lab and remove everything it created')
    .option('--name <name>', 'lab name', 'default')
    .action(async (f: { name: string }) => { await labDown(f.name); process.stdout.write(`lab ${f.name}: down\n`); });
  lab.command('status').description('show lab hosts and whether they answer')
    .option('--name <name>', 'lab name', 'default')
    .action(async (f: { name: string }) => { process.stdout.write(`${JSON.stringify(await labStatus(f.name), null, 2)}\n`); });
}
