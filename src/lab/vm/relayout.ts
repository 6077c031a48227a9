// Moving a running VM lab to another LAN plan in place (no reboot), e.g. the NAT layout's
// client on its own subnet behind the director.
import { Script, sh } from '../../core/shell.js';
import { resolve } from 'node:path';
import type { LabHostSpec, VmLabState } from '../driver.js';
import { LabCommandError, LabNotFoundError } from '../errors.js';
import { StateWriter } from '../state.js';
import { hostsFile, networkBatch } from './hostdata.js';
import { mustReadState, sshEndpoint } from './host-state.js';
import { lanPlan, setLanPlan, subnetsOf } from './lan-plan.js';
import { sshExec } from './ssh.js';

/**
 * Moves running VMs to another LAN plan (addresses, routes, /etc/hosts): e.g. the NAT
 * layout's client on its own subnet behind the director. Hosts whose plan is unchanged
 * keep their addresses; on the others every LAN address goes (a VIP too) before the
 * plan's are added. Every host gets the new /etc/hosts.
 */
export async function relayout(dir: string, hosts: LabHostSpec[]): Promise<VmLabState> {
  const state = await mustReadState(resolve(dir));
  const plans = new Map(hosts.map((h, i) => [h.name, { spec: h, ...lanPlan(h, i) }]));
  const peers = Object.fromEntries(state.hosts.map((h) => [h.name, (plans.get(h.name)?.addresses[0] ?? h.driver.lanAddresses[0]!).split('/')[0]!]));
  await Promise.all(
    state.hosts.map(async (h) => {
      const plan = plans.get(h.name);
      if (!plan) throw new LabNotFoundError(`the new layout has no host ${h.name}`, { lab: state.name, host: h.name });
      const vm = h.driver;
      const changed = JSON.stringify([plan.addresses, plan.routes]) !== JSON.stringify([vm.lanAddresses, vm.routes]);
      const batch = networkBatch({ lanInterface: vm.lanInterface, lanAddresses: plan.addresses, routes: plan.routes });
      const put = (path: string, text: string) =>
        sh`printf %s ${Buffer.from(text).toString('base64')} | base64 -d > ${`${path}.new`} && mv ${`${path}.new`} ${path}`;
      const script = Script.join(
        [
          sh`set -e`,
          put('/etc/hosts', hostsFile(h.name, peers)),
          ...(changed ? [put('/etc/lab/network.ip', batch), sh`ip addr flush dev ${vm.lanInterface}`, sh`ip -batch /etc/lab/network.ip`] : []),
        ],
        '\n',
      );
      const r = await sshExec(sshEndpoint(state, h.name), script, { timeoutMs: 60_000 });
      if (r.code !== 0) throw new LabCommandError(`relayout of ${h.name} failed: ${r.stderr.trim()}`, { lab: state.name, host: h.name, stderr: r.stderr });
      setLanPlan(h, { vars: plan.spec.vars, lanAddresses: plan.addresses, routes: plan.routes });
    }),
  );
  state.subnet = subnetsOf(state.hosts.map((h) => h.driver.lanAddresses));
  await new StateWriter(state).save();
  return state;
}
