// known_hosts parsing and verification against a fixture made with real ssh-keygen (incl. -H).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, rmSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  append,
  fingerprint,
  formatEntry,
  hostKeyName,
  hostsFieldMatches,
  keyTypeFromBlob,
  knownKeyTypes,
  parseKnownHosts,
  verify,
  KnownHostsParseError,
} from '../../src/ssh/known-hosts.js';

// dist/test/unit -> repo root
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fx = (f: string) => path.join(root, 'test/fixtures/ssh', f);
const KH = fx('known_hosts');

function pub(name: string): { type: string; blob: Buffer } {
  const [type, b64] = readFileSync(fx(`host_${name}.pub`), 'utf8').split(' ');
  return { type: type!, blob: Buffer.from(b64!, 'base64') };
}
const A = pub('a');
const B = pub('b');
const C = pub('c');
const R = pub('revoked');
const CA = pub('ca');

test('parse keeps entries, skips comments, blanks and malformed lines; strict mode names the line', () => {
  const text = readFileSync(KH, 'utf8');
  const entries = parseKnownHosts(text);
  assert.equal(entries.length, 8);
  assert.deepEqual(
    entries.map((e) => [e.marker ?? '', e.keyType, e.line]),
    [
      ['', 'ssh-ed25519', 3],
      ['', 'ssh-ed25519', 4],
      ['', 'ssh-ed25519', 5],
      ['', 'ecdsa-sha2-nistp256', 6],
      ['cert-authority', 'ssh-ed25519', 7],
      ['revoked', 'ssh-ed25519', 8],
      ['', 'ecdsa-sha2-nistp256', 9],
      ['', 'ssh-ed25519', 12],
    ],
  );
  assert.throws(
    () => parseKnownHosts(text, '/x/known_hosts', true),
    (e: unknown) => e instanceof KnownHostsParseError && e.message === '/x/known_hosts:11: key is not a valid line key',
  );
});

test('key type comes from the blob; fingerprints equal ssh-keygen -l', () => {
  assert.equal(keyTypeFromBlob(A.blob), 'ssh-ed25519');
  assert.equal(keyTypeFromBlob(B.blob), 'ecdsa-sha2-nistp256');
  assert.throws(() => keyTypeFromBlob(Buffer.from([0, 0, 1, 0, 65])), /no valid type/);
  // Values printed by `ssh-keygen -lf test/fixtures/ssh/host_*.pub` when the fixture was made.
  assert.equal(fingerprint(A.blob), 'SHA256:NPp+lZXI6eROEEGoPraCwsBI9bs4x47eUWB+CKXP3hY');
  assert.equal(fingerprint(B.blob), 'SHA256:44IlXT+k6PSwjFGGpdshhr8RfEqyykKQkdJLOE70C3A');
});

test('plain names, comma lists and [host]:port for non-22 ports', async () => {
  assert.equal(hostKeyName('h', 22), 'h');
  assert.equal(hostKeyName('h', 2222), '[h]:2222');
  assert.equal(await verify(KH, 'alpha.example.com', 22, A.type, A.blob), 'match');
  assert.equal(await verify(KH, '10.0.0.1', 22, A.type, A.blob), 'match');
  assert.equal(await verify(KH, 'ALPHA.example.com', 22, A.type, A.blob), 'match', 'host names are case-insensitive');
  assert.equal(await verify(KH, '10.0.0.1', 2222, A.type, A.blob), 'unknown', 'a port makes a different name');
  assert.equal(await verify(KH, '10.0.0.2', 2222, A.type, A.blob), 'match');
  assert.equal(await verify(KH, '10.0.0.2', 22, A.type, A.blob), 'unknown');
  assert.equal(await verify(KH, 'nonewline.example.com', 22, A.type, A.blob), 'match', 'last line without newline');
});

test('a different key for a known host is "changed", whatever its type', async () => {
  assert.equal(await verify(KH, 'alpha.example.com', 22, C.type, C.blob), 'changed');
  assert.equal(await verify(KH, 'alpha.example.com', 22, B.type, B.blob), 'changed');
});

test('hashed entries written by ssh-keygen -H match the right host and port only', async () => {
  assert.equal(await verify(KH, 'hashed.example.com', 22, C.type, C.blob), 'match');
  assert.equal(await verify(KH, 'hashed.example.com', 2200, B.type, B.blob), 'match');
  assert.equal(await verify(KH, 'hashed.example.com', 22, A.type, A.blob), 'changed');
  assert.equal(await verify(KH, 'hashed.example.com', 2201, B.type, B.blob), 'unknown');
  assert.equal(await verify(KH, 'other.example.com', 22, C.type, C.blob), 'unknown');
});

test('wildcards and negation', () => {
  const f = '*.wild.example.com,!bad.wild.example.com';
  assert.equal(hostsFieldMatches(f, 'x.wild.example.com', 22), true);
  assert.equal(hostsFieldMatches(f, 'bad.wild.example.com', 22), false);
  assert.equal(hostsFieldMatches(f, 'wild.example.com', 22), false);
  assert.equal(hostsFieldMatches('rs?', 'rs1', 22), true);
  assert.equal(hostsFieldMatches('rs?', 'rs12', 22), false);
  assert.equal(hostsFieldMatches('a.b', 'axb', 22), false, 'dots are literal');
  // Names without a pattern are compared outright: still case-insensitive, still whole names.
  assert.equal(hostsFieldMatches('Alpha.Example.COM', 'alpha.example.com', 22), true);
  assert.equal(hostsFieldMatches('alpha.example.com', 'alpha.example.co', 22), false);
  assert.equal(hostsFieldMatches('[10.0.0.1]:2222', '10.0.0.1', 2222), true);
  assert.equal(hostsFieldMatches('10.0.0.1', '10.0.0.1', 2222), false);
});

test('a file read again after it changed is parsed again (the parse is reused only while its text is the same)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kh-'));
  try {
    const file = path.join(dir, 'known_hosts');
    await append(file, 'one.example.com', 22, A.type, A.blob);
    assert.equal(await verify(file, 'one.example.com', 22, A.type, A.blob), 'match');
    assert.equal(await verify(file, 'two.example.com', 22, B.type, B.blob), 'unknown');
    await append(file, 'two.example.com', 22, B.type, B.blob);
    assert.equal(await verify(file, 'two.example.com', 22, B.type, B.blob), 'match');
    assert.deepEqual(await knownKeyTypes(file, 'two.example.com', 22), [B.type]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('@revoked refuses the key for every host; @cert-authority lines neither allow nor deny', async () => {
  assert.equal(await verify(KH, 'alpha.example.com', 22, R.type, R.blob), 'revoked');
  assert.equal(await verify(KH, 'anything', 2222, R.type, R.blob), 'revoked');
  assert.equal(await verify(KH, 'new.example.com', 22, CA.type, CA.blob), 'unknown');
});

test('a missing file knows no host', async () => {
  assert.equal(await verify('/nonexistent/known_hosts', 'h', 22, A.type, A.blob), 'unknown');
  assert.deepEqual(await knownKeyTypes('/nonexistent/known_hosts', 'h', 22), []);
});

test('knownKeyTypes lists the recorded types of a host', async () => {
  assert.deepEqual(await knownKeyTypes(KH, 'hashed.example.com', 2200), ['ecdsa-sha2-nistp256']);
  assert.deepEqual(await knownKeyTypes(KH, 'alpha.example.com', 22), ['ssh-ed25519']);
});

test('append creates dir (0700) and file (0600), does not glue onto a last line without newline', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kh-'));
  try {
    const file = path.join(dir, 'deep', 'known_hosts');
    await append(file, '127.0.0.1', 2222, A.type, A.blob);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
    assert.equal(readFileSync(file, 'utf8'), formatEntry('127.0.0.1', 2222, A.type, A.blob) + '\n');
    assert.equal(await verify(file, '127.0.0.1', 2222, A.type, A.blob), 'match');

    const copy = path.join(dir, 'copy');
    copyFileSync(KH, copy); // ends without a newline
    await append(copy, 'new.example.com', 22, C.type, C.blob);
    const lines = readFileSync(copy, 'utf8').split('\n');
    assert.equal(lines.at(-1), '');
    assert.equal(lines.at(-2), `new.example.com ssh-ed25519 ${C.blob.toString('base64')}`);
    assert.equal(await verify(copy, 'nonewline.example.com', 22, A.type, A.blob), 'match', 'the previous last line is intact');

    // Concurrent appends never interleave within a line.
    const many = path.join(dir, 'many');
    await Promise.all(Array.from({ length: 50 }, (_, i) => append(many, `h${i}`, 22, A.type, A.blob)));
    const got = readFileSync(many, 'utf8').trim().split('\n');
    assert.equal(got.length, 50);
    for (const l of got) assert.match(l, /^h\d+ ssh-ed25519 AAAA\S+$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
