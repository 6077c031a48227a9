// The contract every lab driver fulfils. A lab is a set of SSH-reachable hosts
// plus the state needed to tear them down again, even after a controller crash.
import type { ExecResult } from '../core/types.js';
import type { ContainerHostDetails } from './container.js';
import type { VmHostDriverState } from './vm/host-state.js';

export type LabDriverName = 'container' | 'vm';

export interface LabHostSpec {
  name: string;
  groups: string[];
  /** Extra inventory vars for this host. */
  vars?: Record<string, unknown>;
}

export interface LabSpec {
  name: string;
  hosts: LabHostSpec[];
  /** The lab's own directory: state.json, keys, inventory, per-host dirs. */
  dir: string;
}

/** Everything a driver created, recorded before it is created, so `down` can undo a half-made lab. */
export interface LabResources {
  netns: string[];
  /** Links in the root network namespace (their peers vanish with their namespaces). */
  links: string[];
  pids: number[];
  dirs: string[];
}

/** A lab host; `driver` holds what its driver needs (typed per driver by LabState's union). */
export interface LabHostState<D = ContainerHostDetails | VmHostDriverState> {
  name: string;
  groups: string[];
  vars?: Record<string, unknown>;
  /** Address and port the controller reaches sshd on. */
  address: string;
  port: number;
  /** "ssh-ed25519 AAAA..." of the host's own key. */
  hostKey: string;
  /** Per-host directory (overlay upper, logs). */
  dir: string;
  log: string;
  /** Driver-specific details (container: netns, pids; vm: qemu pid, ports). */
  driver: D;
}

interface LabStateBase {
  version: 1;
  name: string;
  dir: string;
  createdAt: string;
  /** Subnet the hosts live on, e.g. "10.213.7.0/24". */
  subnet: string;
  image: { key: string; rootfs: string };
  resources: LabResources;
  /** Controller private key (public half is in every host's authorized_keys). */
  keyFile: string;
  timings: Record<string, number>;
}

export interface ContainerLabState extends LabStateBase {
  driver: 'container';
  hosts: LabHostState<ContainerHostDetails>[];
}

export interface VmLabState extends LabStateBase {
  driver: 'vm';
  hosts: LabHostState<VmHostDriverState>[];
}

/** state.json: keyed by driver, so each driver reads its own host details without casts. */
export type LabState = ContainerLabState | VmLabState;

export interface LabHostStatus {
  name: string;
  address: string;
  /** The host itself (namespaces + init, or the VM) is alive. */
  running: boolean;
  /** sshd accepts TCP and sends its banner. */
  sshd: boolean;
}

export interface LabStatus {
  name: string;
  driver: LabDriverName;
  /** state.json exists. */
  exists: boolean;
  hosts: LabHostStatus[];
}

export interface LabDriver {
  readonly name: LabDriverName;
  /** Creates the lab; an existing lab in the same dir is torn down first. */
  up(spec: LabSpec): Promise<LabState>;
  /** Removes everything recorded in `<dir>/state.json`, then the dir. Idempotent. */
  down(dir: string): Promise<void>;
  status(dir: string): Promise<LabStatus>;
  /** Runs `/bin/sh -c cmd` as root inside a host without SSH (for tests that inspect or sabotage a host). */
  hostExec(dir: string, host: string, cmd: string): Promise<ExecResult>;
  /** Stops the host's sshd (the host keeps running); resolves once it refuses connections. */
  stopHost(dir: string, host: string): Promise<void>;
  /** Starts sshd again (restarting the host if it died); resolves once it sends its banner. */
  startHost(dir: string, host: string): Promise<void>;
}
