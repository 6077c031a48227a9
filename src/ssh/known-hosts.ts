// OpenSSH known_hosts: parse, verify a presented host key, append a new one.
// Format: [@marker] hostpatterns keytype base64-key [comment]
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { promises as fs, constants as fsc, readFileSync } from 'node:fs';
import path from 'node:path';
import { EXIT, ProvisionError } from '../core/provision-error.js';
import { LastParse } from './last-parse.js';

export type HostKeyVerdict = 'match' | 'unknown' | 'changed' | 'revoked';

export interface KnownHostsEntry {
  marker?: 'revoked' | 'cert-authority';
  /** The host field as written: comma list of patterns, or one hashed `|1|salt|hmac`. */
  hosts: string;
  keyType: string;
  key: Buffer;
  /** 1-based line number, for messages. */
  line: number;
}

/** A known_hosts file provision cannot read: a configuration error, fixed by the operator. */
export class KnownHostsParseError extends ProvisionError {
  readonly exitCode = EXIT.failed;
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
  }
}

/** Parses known_hosts text. Malformed lines are skipped, as ssh does, unless `strict`. */
export function parseKnownHosts(text: string, file = 'known_hosts', strict = false): KnownHostsEntry[] {
  const out: KnownHostsEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const fields = raw.split(/\s+/);
    let marker: KnownHostsEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else {
        if (strict) throw new KnownHostsParseError(file, i + 1, `unknown marker ${m}`);
        continue;
      }
    }
    const [hosts, keyType, b64] = fields;
    if (!hosts || !keyType || !b64 || !/^[A-Za-z0-9+/]+=*$/.test(b64)) {
      if (strict) throw new KnownHostsParseError(file, i + 1, 'expected "hosts keytype base64-key"');
      continue;
    }
    const key = Buffer.from(b64, 'base64');
    let inner = '';
    try {
      inner = keyTypeFromBlob(key);
    } catch {
      /* reported below */
    }
    if (inner !== keyType) {
      if (strict) throw new KnownHostsParseError(file, i + 1, `key is not a valid ${keyType} key`);
      continue;
    }
    out.push({ marker, hosts, keyType, key, line: i + 1 });
  }
  return out;
}

/** How ssh names a host in known_hosts: bare for port 22, `[host]:port` otherwise. */
export function hostKeyName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** ssh's glob: `*` any run, `?` one character; case-insensitive like ssh's match_pattern on hosts. */
function globMatch(pattern: string, s: string): boolean {
  // Most fields name hosts outright: no pattern to compile.
  if (!/[*?]/.test(pattern)) return pattern.toLowerCase() === s.toLowerCase();
  const re = new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
    'i',
  );
  return re.test(s);
}

function hashedMatch(field: string, name: string): boolean {
  // |1|base64(salt)|base64(HMAC-SHA1(salt, name))
  const parts = field.split('|');
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2]!, 'base64');
  const want = Buffer.from(parts[3]!, 'base64');
  const got = createHmac('sha1', salt).update(name).digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

/** Does the entry's host field name this host? A negated pattern that matches vetoes the line. */
export function hostsFieldMatches(field: string, host: string, port: number): boolean {
  const name = hostKeyName(host, port);
  if (field.startsWith('|')) return hashedMatch(field, name);
  let matched = false;
  for (const pat of field.split(',')) {
    if (pat.startsWith('!')) {
      if (globMatch(pat.slice(1), name)) return false;
    } else if (globMatch(pat, name)) {
      matched = true;
    }
  }
  return matched;
}

/** Key type as written inside the SSH wire-format blob (first length-prefixed string). */
export function keyTypeFromBlob(blob: Buffer): string {
  if (blob.length < 4) throw new Error('host key blob too short');
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) throw new Error('host key blob has no valid type');
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** `SHA256:<base64 without padding>`, as `ssh-keygen -l` prints. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** Short display name ssh uses: ssh-ed25519 -> ED25519, ecdsa-sha2-nistp256 -> ECDSA, ssh-rsa -> RSA. */
export function keyTypeLabel(keyType: string): string {
  if (keyType.includes('ed25519')) return 'ED25519';
  if (keyType.startsWith('ecdsa')) return 'ECDSA';
  if (keyType.includes('rsa')) return 'RSA';
  if (keyType.includes('dss')) return 'DSA';
  return keyType;
}

export function verifyEntries(entries: readonly KnownHostsEntry[], host: string, port: number, keyType: string, key: Buffer): HostKeyVerdict {
  let sawOther = false;
  let sawMatch = false;
  for (const e of entries) {
    if (e.marker === 'cert-authority') continue; // we do not do certificates; such lines neither allow nor deny
    if (!hostsFieldMatches(e.hosts, host, port)) continue;
    const same = e.keyType === keyType && e.key.equals(key);
    if (e.marker === 'revoked') {
      if (same) return 'revoked';
      continue;
    }
    if (same) sawMatch = true;
    else sawOther = true;
  }
  if (sawMatch) return 'match';
  // Any other key on record for this host means the presented one is not the one we trust.
  // connection.ts asks the server for the recorded key types first, so a legitimate server
  // answers with the recorded key and this only fires when that key is really gone.
  return sawOther ? 'changed' : 'unknown';
}

async function readIfExists(file: string): Promise<string> {
  try {
    // Read at once (fs.promises costs four hops through the thread pool): every host reads it twice.
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

const parsed = new LastParse<readonly KnownHostsEntry[]>();

export async function loadKnownHosts(file: string): Promise<readonly KnownHostsEntry[]> {
  const text = await readIfExists(file);
  return parsed.get(file, text, () => parseKnownHosts(text, file));
}

/** Verifies a presented host key against a known_hosts file (a missing file knows no host). */
export async function verify(file: string, host: string, port: number, keyType: string, key: Buffer): Promise<HostKeyVerdict> {
  return verifyEntries(await loadKnownHosts(file), host, port, keyType, key);
}

/** Key types on record for a host (not revoked), so the client can ask for them first. */
export async function knownKeyTypes(file: string, host: string, port: number): Promise<string[]> {
  const types = new Set<string>();
  for (const e of await loadKnownHosts(file)) {
    if (!e.marker && hostsFieldMatches(e.hosts, host, port)) types.add(e.keyType);
  }
  return [...types];
}

export function formatEntry(host: string, port: number, keyType: string, key: Buffer): string {
  return `${hostKeyName(host, port)} ${keyType} ${key.toString('base64')}`;
}

/**
 * Appends one entry. Creates the directory (0700) and file (0600) when missing. The line goes out
 * in a single O_APPEND write, so concurrent appenders never interleave within a line.
 */
export async function append(file: string, host: string, port: number, keyType: string, key: Buffer): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const fh = await fs.open(file, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o600);
  try {
    let lead = '';
    const { size } = await fh.stat();
    if (size > 0) {
      // Do not glue our line onto a last line that lacks its newline.
      const last = Buffer.alloc(1);
      const rfh = await fs.open(file, 'r');
      try {
        await rfh.read(last, 0, 1, size - 1);
      } finally {
        await rfh.close();
      }
      if (last[0] !== 0x0a) lead = '\n';
    }
    await fh.write(`${lead}${formatEntry(host, port, keyType, key)}\n`);
  } finally {
    await fh.close();
  }
}
