// Host key policy: a known key passes, an unknown one only with --accept-new-host-keys
// (then it is recorded), a changed or revoked one never.
import type { HostVerifier } from 'ssh2';
import { TransportError } from './errors.js';
import * as kh from './known-hosts.js';

export interface HostKeyPolicy {
  host: string;
  endpoint: string;
  /** Name and port the key is filed under (what was dialled). */
  keyHost: string;
  keyPort: number;
  knownHostsFile: string;
  acceptNew: boolean;
}

/** ssh2's host key algorithms, in its default order. */
const DEFAULT_HOST_KEY_ALGOS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

/** Key blob type -> the signature algorithms that present such a key. */
function algosFor(keyType: string): string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return DEFAULT_HOST_KEY_ALGOS.includes(keyType) ? [keyType] : [];
}

/** Ask for the key types already on record first, as ssh does, so a server with several keys shows the one we know. */
export async function hostKeyAlgorithms(p: HostKeyPolicy): Promise<string[]> {
  const known = (await kh.knownKeyTypes(p.knownHostsFile, p.keyHost, p.keyPort)).flatMap(algosFor);
  return [...new Set([...known, ...DEFAULT_HOST_KEY_ALGOS])];
}

/**
 * Returns the verifier for ssh2 plus a getter for the refusal it recorded (ssh2 itself only
 * reports "host denied", so the typed reason is kept here).
 */
export function makeHostVerifier(p: HostKeyPolicy): { verifier: HostVerifier; refusal: () => TransportError | undefined } {
  let refusal: TransportError | undefined;
  const refuse = (kind: ConstructorParameters<typeof TransportError>[0], detail: string, cause?: unknown) => {
    refusal = new TransportError(kind, p.host, p.endpoint, detail, { cause });
  };
  const verifier: HostVerifier = (key, done) => {
    void (async () => {
      let keyType: string;
      try {
        keyType = kh.keyTypeFromBlob(key);
      } catch (e) {
        refuse('hostkey-unknown', `server sent a malformed host key: ${(e as Error).message}`, e);
        return false;
      }
      const label = `${kh.keyTypeLabel(keyType)} ${kh.fingerprint(key)}`;
      const file = p.knownHostsFile;
      const name = kh.hostKeyName(p.keyHost, p.keyPort);
      let verdict: kh.HostKeyVerdict;
      try {
        verdict = await kh.verify(file, p.keyHost, p.keyPort, keyType, key);
      } catch (e) {
        refuse('config', `cannot read known_hosts ${file}: ${(e as Error).message}`, e);
        return false;
      }
      switch (verdict) {
        case 'match':
          return true;
        case 'revoked':
          refuse('hostkey-revoked', `host key ${label} is marked @revoked in ${file}. Refusing to connect.`);
          return false;
        case 'changed':
          refuse(
            'hostkey-changed',
            `HOST KEY CHANGED! The server presented ${label}, which is not the key recorded for ${name} in ${file}. ` +
              `Someone may be intercepting the connection (man-in-the-middle), or the host was reinstalled. ` +
              `Refusing to connect; --accept-new-host-keys does not override this. If the change is expected, ` +
              `remove the old entry (ssh-keygen -R '${name}' -f ${file}) and verify the new key.`,
          );
          return false;
        case 'unknown':
          if (!p.acceptNew) {
            refuse('hostkey-unknown', `host key not in ${file} (${label}). Verify it and add it, or run with --accept-new-host-keys`);
            return false;
          }
          try {
            await kh.append(file, p.keyHost, p.keyPort, keyType, key);
          } catch (e) {
            refuse('config', `cannot record the new host key in ${file}: ${(e as Error).message}`, e);
            return false;
          }
          return true;
      }
    })().then(
      (ok) => done(ok),
      (e) => {
        refuse('config', `host key check failed: ${(e as Error).message}`, e);
        done(false);
      },
    );
  };
  return { verifier, refusal: () => refusal };
}
