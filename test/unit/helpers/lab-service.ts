// A virtual service on the lab's addresses (VIP 10.0.0.18, rs1 10.0.0.16, rs2 10.0.0.17, weight 1):
// the verify tests' starting point; `over` changes what a test is about.
import type { VirtualServiceSpec } from '../../../src/lvs/types.js';

export function labService(port: number, over: Partial<VirtualServiceSpec>): VirtualServiceSpec {
  return {
    name: 'web',
    vip: '10.0.0.18',
    port,
    protocol: 'tcp',
    scheduler: 'rr',
    forwarding: 'nat',
    realServers: [
      { host: 'rs1', address: '10.0.0.16', port, weight: 1 },
      { host: 'rs2', address: '10.0.0.17', port, weight: 1 },
    ],
    health: { monitor: 'mon', kind: 'http', url: '/', interval: 5, timeout: 3 },
    ...over,
  };
}
