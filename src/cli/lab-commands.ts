// `lab up/down/status`: the built-in lab of real SSH hosts (containers or qemu VMs).
import { type Command, Option } from 'commander';
import { err, intArg } from './common.js';

// The lab's code (namespaces, qemu) is imported only when a lab command runs: the CLI starts fast.
const containerLab = () => import('../lab/index.js');
const vmLab = () => import('../lab/vm/lab.js');

/** Every lab command takes --lab-dir: labs live in the user's state dir unless told (see lab/base-dir.ts). */
const LAB_DIR_HELP = 'where labs live (default: $PROVISION_LAB_DIR, else $XDG_STATE_HOME/provision/labs or ~/.local/state/provision/labs)';

export function registerLabCommands(program: Command): void {
  const lab = program.command('lab').description('the built-in lab of real SSH hosts (used by the tests and the demo)');
  lab
    .command('up')
    .description('start lab hosts and write <dir>/inventory.yaml (container: sshd in namespaces; vm: qemu VMs with an IPVS kernel, LVS layout)')
    .option('--name <name>', 'lab name', 'default')
    .addOption(new Option('--driver <driver>', 'container hosts or VMs').choices(['container', 'vm']).default('container'))
    .option('--hosts <n>', 'container: number of hosts', intArg(1, 250), 3)
    .addOption(new Option('--forwarding <method>', 'vm: LVS forwarding written to the lab inventory').choices(['tun', 'dr', 'nat']).default('tun'))
    .option('--real-servers <n>', 'vm: number of real servers', intArg(1, 200), 2)
    .option('--directors <n>', 'vm: number of directors (2 or 3: backups, the inventory gets lvs.ha: VRRP + connection sync)', intArg(1, 3), 1)
    .option('--lab-dir <dir>', LAB_DIR_HELP)
    .action(
      async (f: {
        name: string;
        hosts: number;
        driver: 'container' | 'vm';
        forwarding: 'tun' | 'dr' | 'nat';
        realServers: number;
        directors: number;
        labDir?: string;
      }) => {
        const { labDir, labUp } = await containerLab();
        if (f.driver === 'vm') {
          const { vmLabUp } = await vmLab();
          const r = await vmLabUp({
            name: f.name,
            dir: labDir(f.name, f.labDir),
            forwarding: f.forwarding,
            realServers: f.realServers,
            directors: f.directors,
            log: err,
          });
          process.stdout.write(
            `lab ${f.name}: ${r.hosts.length} VMs up${r.ha ? ' (lvs.ha: director is the VRRP master by priority)' : ''}; inventory: ${r.inventory}\n`,
          );
          for (const h of r.hosts) process.stdout.write(`  ${h.name}  ssh 127.0.0.1:${h.sshPort}  lan ${h.lanAddress}\n`);
          process.stdout.write(`timings (ms): ${JSON.stringify(r.timings)}\n`);
          return;
        }
        const r = await labUp({ name: f.name, hosts: f.hosts, baseDir: f.labDir });
        process.stdout.write(`lab ${f.name}: ${r.hosts.length} hosts up; inventory: ${r.inventory}\n`);
        for (const h of r.hosts) process.stdout.write(`  ${h.name}  ${h.address}\n`);
        process.stdout.write(`timings (ms): ${JSON.stringify(r.timings)}\n`);
      },
    );
  lab
    .command('save')
    .description('vm: save every VM of the lab as <tag> (they pause for seconds, then run on)')
    .argument('<tag>', 'snapshot name (a-z, 0-9, -)')
    .option('--name <name>', 'lab name', 'default')
    .option('--lab-dir <dir>', LAB_DIR_HELP)
    .action(async (tag: string, f: { name: string; labDir?: string }) => {
      const [{ labDir }, { vmLabSave }] = await Promise.all([containerLab(), vmLab()]);
      const bytes = await vmLabSave(labDir(f.name, f.labDir), tag);
      const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;
      process.stdout.write(
        `lab ${f.name}: saved as ${tag} (${Object.entries(bytes)
          .map(([h, n]) => `${h} ${mb(n)}`)
          .join(', ')})\n`,
      );
    });
  lab
    .command('restore')
    .description('vm: return every VM of the lab to the moment saved as <tag> (and its inventory)')
    .argument('<tag>', 'snapshot name given to `lab save`')
    .option('--name <name>', 'lab name', 'default')
    .option('--lab-dir <dir>', LAB_DIR_HELP)
    .action(async (tag: string, f: { name: string; labDir?: string }) => {
      const [{ labDir }, { vmLabRestore }] = await Promise.all([containerLab(), vmLab()]);
      const r = await vmLabRestore(labDir(f.name, f.labDir), tag);
      process.stdout.write(`lab ${f.name}: restored ${tag}; inventory: ${r.inventory} (forwarding ${r.forwarding})\n`);
    });
  lab
    .command('down')
    .description('stop the lab and remove everything it created')
    .option('--name <name>', 'lab name', 'default')
    .option('--lab-dir <dir>', LAB_DIR_HELP)
    .action(async (f: { name: string; labDir?: string }) => {
      const { labDown } = await containerLab();
      await labDown(f.name, f.labDir);
      process.stdout.write(`lab ${f.name}: down\n`);
    });
  lab
    .command('status')
    .description('show lab hosts and whether they answer')
    .option('--name <name>', 'lab name', 'default')
    .option('--lab-dir <dir>', LAB_DIR_HELP)
    .action(async (f: { name: string; labDir?: string }) => {
      const { labStatus } = await containerLab();
      process.stdout.write(`${JSON.stringify(await labStatus(f.name, f.labDir), null, 2)}\n`);
    });
}
