#!/usr/bin/env node
// Regenerates the STAND-IN artifacts of inventory/seed.yaml, byte for byte (fixed mtimes, no gzip
// name/time), so their sha256 pins stay valid. See README.md: these are not the real files.
// Usage: node inventory/artifacts/make-standins.mjs   (from the project root or anywhere)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const FAIL = (what) => `#!/bin/sh\necho "STAND-IN ${what}: replace inventory/artifacts/ with the real file (see its README.md)" >&2\nexit 1\n`;

/** A header-only rpm (lead + signature header + main header with NAME/VERSION/RELEASE, no payload):
 *  enough for provision to read name and version; rpm itself refuses it, which is the point. */
function standinRpm(name, version, release) {
  const header = (tags) => {
    const data = Buffer.concat(tags.map(([, s]) => Buffer.from(`${s}\0`)));
    const head = Buffer.alloc(16 + tags.length * 16);
    head.writeUInt32BE(0x8eade801, 0);
    head.writeUInt32BE(tags.length, 8);
    head.writeUInt32BE(data.length, 12);
    let off = 0;
    tags.forEach(([tag, s], i) => {
      head.writeUInt32BE(tag, 16 + i * 16);
      head.writeUInt32BE(6, 20 + i * 16);
      head.writeUInt32BE(off, 24 + i * 16);
      head.writeUInt32BE(1, 28 + i * 16);
      off += Buffer.byteLength(s) + 1;
    });
    return Buffer.concat([head, data]);
  };
  const lead = Buffer.alloc(96);
  lead.writeUInt32BE(0xedabeedb, 0);
  lead.write(`${name}-${version}-${release} STAND-IN`.slice(0, 65), 10);
  const sig = header([[1000, 'STAND-IN, not a real package']]);
  const pad = Buffer.alloc((8 - (sig.length % 8)) % 8);
  return Buffer.concat([lead, sig, pad, header([[1000, name], [1001, version], [1002, release], [1004, 'STAND-IN: not installable; replace with the real rpm']])]);
}

function tarball(out, top, files) {
  const tmp = mkdtempSync(join(tmpdir(), 'standin-'));
  try {
    for (const [rel, content, mode] of files) {
      const p = join(tmp, top, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
      chmodSync(p, mode ?? 0o644);
    }
    const tar = execFileSync('tar', ['--sort=name', '--mtime=@1167609600', '--owner=0', '--group=0', '--numeric-owner', '-C', tmp, '-cf', '-', top]);
    writeFileSync(join(here, out), execFileSync('gzip', ['-9', '-n', '-c'], { input: tar }));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const readme = (what, real) => `STAND-IN for ${what}, which cannot be downloaded from this project's machines.\nReal file: ${real}\nIt builds and installs nothing real: every step that would run on a host fails and says so.\n`;

tarball('noarp-1.2.4.STANDIN.tar.gz', 'noarp-1.2.4', [
  ['README.STANDIN', readme('noarp-1.2.4.tar.gz', 'http://www.masarlabs.com/download/noarp-1.2.4.tar.gz')],
  ['configure', FAIL('noarp configure'), 0o755],
]);
tarball('mon-0.99.2.STANDIN.tar.gz', 'mon-0.99.2', [
  ['README.STANDIN', readme('mon-0.99.2.tar.gz', 'ftp://ftp.kernel.org/pub/software/admin/mon/mon-0.99.2.tar.gz')],
  ['mon', FAIL('mon'), 0o755],
]);
writeFileSync(join(here, 'ipvsadm-1.24-6.STANDIN.src.rpm'), standinRpm('ipvsadm', '1.24', '6'));
for (const [n, v, r, arch] of [
  ['perl-Mon', '0.11', '2.2.el4.rf', 'noarch'],
  ['fping', '2.4', '1.b2.2.el4.rf', 'i386'],
  ['perl-Convert-BER', '1.31.01', '1.2.el4.rf', 'noarch'],
  ['perl-Net-Telnet', '3.03', '1.2.el4.rf', 'noarch'],
  ['perl-Time-HiRes', '1.55', '3', 'i386'],
  ['perl-Time-Period', '1.20', '2.el4.rf', 'noarch'],
]) writeFileSync(join(here, `${n}-${v}-${r}.${arch}.STANDIN.rpm`), standinRpm(n, v, r));
