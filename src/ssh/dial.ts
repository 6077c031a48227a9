// One SSH handshake + login, with failures mapped to TransportError kinds.
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { Client as ClientType } from 'ssh2';
import { authHandler, type AuthPlan } from './auth.js';
import { TransportError } from './errors.js';
import { hostKeyAlgorithms, makeHostVerifier, type HostKeyPolicy } from './host-key-check.js';

const { Client } = ssh2;

export interface DialSpec {
  host: string;
  endpoint: string;
  address: string;
  port: number;
  username: string;
  auth: AuthPlan;
  policy: HostKeyPolicy;
  readyTimeoutMs: number;
  keepaliveIntervalMs: number;
  /** Pre-connected stream (a ProxyJump tunnel) instead of a TCP dial. */
  sock?: Duplex;
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EADDRNOTAVAIL',
]);

export function dial(spec: DialSpec): Promise<ClientType> {
  return hostKeyAlgorithms(spec.policy).then(
    (serverHostKey) =>
      new Promise<ClientType>((resolve, reject) => {
        const client = new Client();
        const { verifier, refusal } = makeHostVerifier(spec.policy);
        const tried: string[] = [];
        let settled = false;
        const fail = (e: TransportError) => {
          if (settled) return;
          settled = true;
          client.end();
          reject(e);
        };
        const mk = (kind: TransportError['kind'], detail: string, cause?: unknown) => new TransportError(kind, spec.host, spec.endpoint, detail, { cause });

        client.on('ready', () => {
          if (settled) return;
          settled = true;
          resolve(client);
        });
        client.on('error', (err: Error & { level?: string; code?: string }) => {
          if (settled) return; // after ready the connection's own handlers take over
          const refused = refusal();
          if (refused) return fail(refused);
          if (err.level === 'client-authentication') {
            const skipped = spec.auth.skipped.length ? `; skipped: ${spec.auth.skipped.join('; ')}` : '';
            return fail(
              mk('auth', `authentication failed for user ${spec.username}; tried: ${tried.join(', ') || 'nothing the server accepts'}${skipped}`, err),
            );
          }
          if (err.level === 'client-timeout') return fail(mk('timeout', `no SSH handshake within ${spec.readyTimeoutMs}ms`, err));
          if (err.code && UNREACHABLE_CODES.has(err.code)) return fail(mk('unreachable', `cannot connect: ${err.code} (${err.message})`, err));
          return fail(mk('unreachable', `SSH connection failed: ${err.message}`, err));
        });
        client.on('close', () => {
          if (settled) return;
          const refused = refusal();
          fail(refused ?? mk('unreachable', 'connection closed during the SSH handshake'));
        });

        try {
          client.connect({
            ...(spec.sock ? { sock: spec.sock } : { host: spec.address, port: spec.port }),
            username: spec.username,
            readyTimeout: spec.readyTimeoutMs,
            keepaliveInterval: spec.keepaliveIntervalMs,
            keepaliveCountMax: 3,
            hostVerifier: verifier,
            algorithms: { serverHostKey: serverHostKey as never },
            authHandler: authHandler(spec.auth, spec.username, tried),
          });
        } catch (e) {
          fail(mk('config', `invalid SSH settings: ${(e as Error).message}`, e));
        }
      }),
  );
}
