// The LVS section of an inventory, validated (src/lvs/schema.ts): virtual services, real servers,
// health checks and the backup directors.

export type Forwarding = 'nat' | 'dr' | 'tun';
export type Protocol = 'tcp' | 'udp' | 'fwmark';

export interface RealServerSpec {
  /** Inventory host name of the real server, when it is managed by provision. */
  host?: string;
  /** Real server IP (RIP) the director forwards to. */
  address: string;
  /** Port on the real server (NAT may differ from the virtual port; DR/TUN must equal it). */
  port: number;
  weight: number;
}

export interface HealthCheckSpec {
  monitor: 'mon' | 'keepalived' | 'none';
  /** http and tcp check tcp services; dns (a DNS query over UDP) checks udp services. */
  kind: 'http' | 'tcp' | 'dns';
  /** Path for http checks, e.g. "/". */
  url: string;
  /** dns: the name asked for (type A); the monitor and `verify` send this query to each real server. */
  query?: string;
  /** Seconds between checks. */
  interval: number;
  /** Seconds before one check gives up. */
  timeout: number;
}

export interface VirtualServiceSpec {
  name: string;
  vip: string;
  port: number;
  protocol: Protocol;
  /** Firewall mark, only for protocol fwmark. */
  fwmark?: number;
  scheduler: string;
  forwarding: Forwarding;
  /** Persistence timeout in seconds (ipvsadm -p), absent = none. */
  persistence?: number;
  realServers: RealServerSpec[];
  health: HealthCheckSpec;
}

/**
 * A backup director (lvs.ha): keepalived's VRRP moves the VIPs (and the floating gateway
 * addresses) to the live director with the highest priority; IPVS connection sync copies the
 * master's connection table to the backups so established connections survive a takeover.
 */
export interface HaSpec {
  /** VRRP virtual router id (1..255), the same on every director of this cluster. */
  virtualRouterId: number;
  /** VRRP priority per director (host name): the inventory's, else 150, 140, ... by order in group directors. */
  priorities: Record<string, number>;
  /** Seconds between VRRP adverts. */
  advertInterval: number;
  /** A higher-priority director takes the VIPs back when it returns (keepalived's default); false = nopreempt. */
  preempt: boolean;
  /** VRRP adverts sent to the other directors' dips instead of multicast 224.0.0.18. */
  unicast: boolean;
  /** Interface of VRRP and the floating addresses; absent: each director's LAN interface. */
  interface?: string;
  /** NAT: the floating address the real servers route through (it follows the master). */
  natGateway?: string;
  /** More floating addresses (CIDR), e.g. the gateway clients route through to a NAT VIP. */
  floating: string[];
  sync: {
    enabled: boolean;
    /** Interface the sync daemons send and listen on; absent: the VRRP interface. */
    interface?: string;
    /** Sync id (0..255), the same on master and backups. */
    id: number;
  };
}

export interface LvsSpec {
  services: VirtualServiceSpec[];
  /** Two or more directors, one master at a time (absent: one director holds the VIPs statically). */
  ha?: HaSpec;
}
