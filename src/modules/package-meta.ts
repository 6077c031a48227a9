// Reads name and version of a local .deb/.rpm on the controller, so a pushed package is skipped
// when that exact version is installed. .rpm headers are parsed here (controllers rarely have rpm);
// .deb uses dpkg-deb (control.tar may be xz/zstd, which node cannot unpack alone).
import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { ModuleError } from './errors.js';

export interface PackageMeta {
  name: string;
  /** dpkg: the Version field (epoch included); rpm: VERSION-RELEASE. */
  version: string;
}

const RPM_LEAD = 96;
const HEADER_MAGIC = 0x8eade801;
const TAG_NAME = 1000;
const TAG_VERSION = 1001;
const TAG_RELEASE = 1002;
const TYPE_STRING = 6;

/** Parses one RPM header structure at `off`; returns its string tags and the offset after it. */
function readHeader(buf: Buffer, off: number, file: string): { tags: Map<number, string>; end: number } {
  if (buf.length < off + 16 || buf.readUInt32BE(off) !== HEADER_MAGIC) throw new ModuleError('pkg', `${file}: not an rpm (bad header magic at ${off})`);
  const count = buf.readUInt32BE(off + 8);
  const dataLen = buf.readUInt32BE(off + 12);
  const index = off + 16;
  const data = index + count * 16;
  if (buf.length < data + dataLen) throw new ModuleError('pkg', `${file}: truncated rpm header`);
  const tags = new Map<number, string>();
  for (let i = 0; i < count; i++) {
    const e = index + i * 16;
    const tag = buf.readUInt32BE(e);
    const type = buf.readUInt32BE(e + 4);
    const at = data + buf.readUInt32BE(e + 8);
    if (type !== TYPE_STRING) continue;
    const nul = buf.indexOf(0, at);
    if (nul < 0 || nul > data + dataLen) continue;
    tags.set(tag, buf.toString('utf8', at, nul));
  }
  return { tags, end: data + dataLen };
}

/** Name and VERSION-RELEASE from an rpm's lead + signature header + main header. */
export function parseRpmHeader(buf: Buffer, file = 'rpm'): PackageMeta {
  if (buf.length < RPM_LEAD || buf.readUInt32BE(0) !== 0xedabeedb) throw new ModuleError('pkg', `${file}: not an rpm (bad lead magic)`);
  const sig = readHeader(buf, RPM_LEAD, file);
  const mainOff = sig.end + ((8 - (sig.end % 8)) % 8); // the signature header is padded to 8 bytes
  const { tags } = readHeader(buf, mainOff, file);
  const name = tags.get(TAG_NAME);
  const version = tags.get(TAG_VERSION);
  const release = tags.get(TAG_RELEASE);
  if (!name || !version || !release) throw new ModuleError('pkg', `${file}: rpm header lacks NAME/VERSION/RELEASE`);
  return { name, version: `${version}-${release}` };
}

export async function readRpmMeta(file: string): Promise<PackageMeta> {
  const fh = await open(file, 'r').catch((e: Error) => {
    throw new ModuleError('pkg', `cannot read ${file}: ${e.message}`);
  });
  try {
    // Headers of real packages (file lists included) fit well within the first 4 MiB.
    const buf = Buffer.alloc(4 << 20);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return parseRpmHeader(buf.subarray(0, bytesRead), file);
  } finally {
    await fh.close();
  }
}

export function readDebMeta(file: string): Promise<PackageMeta> {
  return new Promise((resolve, reject) => {
    execFile('dpkg-deb', ['-f', file, 'Package', 'Version'], (err, stdout, stderr) => {
      if (err) {
        const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'dpkg-deb is not installed on the controller' : stderr.trim() || err.message;
        return reject(new ModuleError('pkg', `cannot read ${file}: ${why}`));
      }
      const name = /^Package:\s*(\S+)/m.exec(stdout)?.[1];
      const version = /^Version:\s*(\S+)/m.exec(stdout)?.[1];
      if (!name || !version) return reject(new ModuleError('pkg', `${file}: no Package/Version in control file`));
      resolve({ name, version });
    });
  });
}
