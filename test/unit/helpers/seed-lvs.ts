// The seed's LVS section (inventory/seed.yaml) as the loader must parse it: one VS/TUN web
// service on 192.168.0.218 with rs1/rs2, watched by mon. Shared by the tests that start from it.
import type { LvsSpec } from '../../../src/lvs/types.js';

export const SEED_LVS: LvsSpec = {
  services: [
    {
      name: 'web',
      vip: '192.168.0.218',
      port: 80,
      protocol: 'tcp',
      scheduler: 'rr',
      forwarding: 'tun',
      realServers: [
        { host: 'rs1', address: '192.168.0.216', port: 80, weight: 1 },
        { host: 'rs2', address: '192.168.0.217', port: 80, weight: 1 },
      ],
      health: { monitor: 'mon', kind: 'http', url: '/', interval: 10, timeout: 5 },
    },
  ],
};
