// Public surface of the SSH transport.
export { openConnection, type ConnectOptions } from './connection.js';
export { TransportError, isTransportError, type TransportErrorKind } from './errors.js';
export {
  verify,
  append,
  fingerprint,
  keyTypeFromBlob,
  keyTypeLabel,
  parseKnownHosts,
  hostKeyName,
  hostsFieldMatches,
  type HostKeyVerdict,
  type KnownHostsEntry,
} from './known-hosts.js';
export { resolveEndpoint, readSshConfig, type SshConfigValues, type ResolvedEndpoint } from './ssh-config.js';
