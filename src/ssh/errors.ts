import { ConnectionError, EXIT } from '../core/provision-error.js';

// Every failure of the transport is one typed error, so the engine can tell
// "host down" from "wrong key" without parsing messages.

export type TransportErrorKind = 'unreachable' | 'timeout' | 'auth' | 'hostkey-unknown' | 'hostkey-changed' | 'hostkey-revoked' | 'channel' | 'sftp' | 'config';

export class TransportError extends ConnectionError {
  readonly exitCode = EXIT.failed;
  readonly kind: TransportErrorKind;
  /** Inventory name of the host. */
  readonly host: string;
  /** "address:port" that was dialled. */
  readonly endpoint: string;

  /** `detail` is the sentence after the "host (address:port): " prefix. */
  constructor(kind: TransportErrorKind, host: string, endpoint: string, detail: string, options?: { cause?: unknown }) {
    super(`${host} (${endpoint}): ${detail}`, options);
    this.kind = kind;
    this.host = host;
    this.endpoint = endpoint;
  }

  /** Whether a failed connection attempt is worth repeating: a host may come up, keys and passwords will not change by themselves. */
  get retryable(): boolean {
    return this.kind === 'unreachable' || this.kind === 'timeout';
  }
}

export function isTransportError(e: unknown): e is TransportError {
  return e instanceof TransportError;
}
