// Typed inventory: what `loadInventory` returns after YAML parsing and schema validation.
import type { LvsSpec } from '../lvs/types.js';

/** How to reach a host over SSH (not its service addresses). */
export interface SshTarget {
  /** Inventory name. */
  name: string;
  /** ansible_host (or the name); in the lab 127.0.0.1 or a lab address. */
  address: string;
  port: number;
  /** '' when the inventory does not say: ~/.ssh/config's User applies, then the local user. */
  user: string;
  privateKeyFile?: string;
  /** known_hosts file to verify host keys against (absolute). */
  knownHostsFile?: string;
  /** Run tasks as root via sudo when `user` is not root. */
  become: boolean;
  /** Env var holding the SSH password (never the password itself). */
  passwordEnv?: string;
  /** Env var holding the sudo password. */
  becomePasswordEnv?: string;
  proxyJump?: string;
}

export interface HostEntry {
  name: string;
  /** Groups this host belongs to, nearest first, always ending in "all". */
  groups: string[];
  /** Merged vars: all < parent groups < child groups < host. */
  vars: Record<string, unknown>;
  ssh: SshTarget;
}

export interface Inventory {
  /** Absolute path of the file it was loaded from. */
  file: string;
  hosts: Map<string, HostEntry>;
  /** Group name -> host names (transitively, children included). */
  groups: Map<string, string[]>;
  /** Validated `lvs` section (a var of `all`), if present. */
  lvs?: LvsSpec;
}
