// Reads ~/.ssh/config for a host alias. Precedence: inventory > ssh config > defaults.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SSHConfig from 'ssh-config';
import { LastParse } from './last-parse.js';
import { TransportError } from './errors.js';

/** The ssh config values provision uses, already typed and ~-expanded. */
export interface SshConfigValues {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  proxyJump?: string;
}

/** Values the inventory set explicitly (absent = not set there). */
export interface ExplicitSettings {
  address?: string;
  port?: number;
  user?: string;
  privateKeyFile?: string;
  proxyJump?: string;
}

export interface ResolvedEndpoint {
  address: string;
  port: number;
  user: string;
  /** Candidate private keys, in the order to try them. */
  identityFiles: string[];
  /** True when the key came from the inventory: then a missing file is an error, not a skip. */
  explicitKey: boolean;
  proxyJump?: string;
}

export interface ResolveOptions {
  /** Default ~/.ssh/config. A missing file is fine (no values). */
  configFile?: string;
  homeDir?: string;
  /** Login user when neither inventory nor config names one. Default: the local user. */
  defaultUser?: string;
}

export function defaultConfigFile(homeDir = os.homedir()): string {
  return path.join(homeDir, '.ssh', 'config');
}

/** ssh's percent tokens that make sense here, plus a leading ~. */
export function expandPath(p: string, tokens: { home: string; host: string; remoteUser?: string; port?: number; localUser?: string }): string {
  let s = p.replace(/%(.)/g, (m, c: string) => {
    switch (c) {
      case '%':
        return '%';
      case 'd':
        return tokens.home;
      case 'h':
        return tokens.host;
      case 'r':
        return tokens.remoteUser ?? m;
      case 'p':
        return tokens.port !== undefined ? String(tokens.port) : m;
      case 'u':
        return tokens.localUser ?? m;
      default:
        return m;
    }
  });
  if (s === '~') s = tokens.home;
  else if (s.startsWith('~/')) s = path.join(tokens.home, s.slice(2));
  return s;
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function many(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

const parsed = new LastParse<ReturnType<typeof SSHConfig.parse>>();

/** Parses config text and computes the values for `alias` (first match wins, like ssh). */
export function computeSshConfig(text: string, alias: string, file = 'ssh config'): SshConfigValues {
  let computed: Record<string, string | string[]>;
  try {
    // matchExec off: reading a config must never run the shell commands in `Match exec`.
    computed = parsed.get(file, text, () => SSHConfig.parse(text)).compute(alias, { ignoreCase: true, matchExec: false });
  } catch (e) {
    throw new TransportError('config', alias, 'ssh config', `cannot parse ${file}: ${(e as Error).message}`, { cause: e });
  }
  const out: SshConfigValues = { identityFiles: [] };
  const hostName = one(computed['hostname']);
  if (hostName) out.hostName = hostName.replace(/%h/g, alias).replace(/%%/g, '%');
  const user = one(computed['user']);
  if (user) out.user = user;
  const port = one(computed['port']);
  if (port !== undefined) {
    const n = Number(port);
    if (!Number.isInteger(n) || n < 1 || n > 65535) {
      throw new TransportError('config', alias, 'ssh config', `${file}: Port "${port}" is not a port number`);
    }
    out.port = n;
  }
  out.identityFiles = many(computed['identityfile']).filter((f) => f.toLowerCase() !== 'none');
  const jump = one(computed['proxyjump']);
  if (jump && jump.toLowerCase() !== 'none') out.proxyJump = jump;
  return out;
}

export async function readSshConfig(alias: string, configFile?: string, homeDir = os.homedir()): Promise<SshConfigValues> {
  const file = configFile ?? defaultConfigFile(homeDir);
  let text: string;
  try {
    // Read at once (fs.promises costs four hops through the thread pool): every host reads it.
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && configFile === undefined) return { identityFiles: [] };
    throw new TransportError('config', alias, 'ssh config', `cannot read ssh config ${file}: ${(e as Error).message}`, { cause: e });
  }
  return computeSshConfig(text, alias, file);
}

const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/** Merges inventory, ssh config and defaults into the endpoint to dial. */
export function mergeSettings(
  alias: string,
  explicit: ExplicitSettings,
  cfg: SshConfigValues,
  opts: { homeDir?: string; defaultUser?: string } = {},
): ResolvedEndpoint {
  const home = opts.homeDir ?? os.homedir();
  const localUser = os.userInfo().username;
  const address = explicit.address ?? cfg.hostName ?? alias;
  const port = explicit.port ?? cfg.port ?? 22;
  const user = explicit.user ?? cfg.user ?? opts.defaultUser ?? localUser;
  const tokens = { home, host: address, remoteUser: user, port, localUser };
  let identityFiles: string[];
  let explicitKey = false;
  if (explicit.privateKeyFile) {
    identityFiles = [expandPath(explicit.privateKeyFile, tokens)];
    explicitKey = true;
  } else if (cfg.identityFiles.length > 0) {
    identityFiles = cfg.identityFiles.map((f) => expandPath(f, tokens));
  } else {
    identityFiles = DEFAULT_KEYS.map((k) => path.join(home, '.ssh', k));
  }
  const proxyJump = explicit.proxyJump ?? cfg.proxyJump;
  return { address, port, user, identityFiles, explicitKey, ...(proxyJump ? { proxyJump } : {}) };
}

export async function resolveEndpoint(alias: string, explicit: ExplicitSettings, opts: ResolveOptions = {}): Promise<ResolvedEndpoint> {
  const home = opts.homeDir ?? os.homedir();
  const cfg = await readSshConfig(alias, opts.configFile, home);
  return mergeSettings(alias, explicit, cfg, { homeDir: home, defaultUser: opts.defaultUser });
}

/** Splits a ProxyJump hop "[user@]host[:port]" (only the first hop of a comma list is supported). */
export function parseJumpSpec(spec: string): { user?: string; host: string; port?: number; more: boolean } {
  const hops = spec.split(',');
  let hop = hops[0]!.trim().replace(/^ssh:\/\//, '');
  let user: string | undefined;
  const at = hop.lastIndexOf('@');
  if (at >= 0) {
    user = hop.slice(0, at);
    hop = hop.slice(at + 1);
  }
  let host = hop;
  let port: number | undefined;
  const m = /^\[(.+)\](?::(\d+))?$/.exec(hop) ?? /^([^:]+):(\d+)$/.exec(hop);
  if (m) {
    host = m[1]!;
    if (m[2]) port = Number(m[2]);
  }
  return { ...(user ? { user } : {}), host, ...(port ? { port } : {}), more: hops.length > 1 };
}
