// A minimal "newc" cpio writer: the format the kernel unpacks as an initramfs.
// Written here (not with cpio(1)) so per-VM archives need no temp directory and
// file modes/owners are exactly what we say, whatever the controller's umask.
import { gzipSync } from 'node:zlib';

export interface CpioEntry {
  /** Path inside the archive, without a leading slash: "etc/hostname". */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (e.g. 0o600); type bits are added from `type`. */
  mode: number;
  /** File content, or the link target for symlinks. */
  data?: Buffer | string;
  uid?: number;
  gid?: number;
}

const TYPE_BITS = { file: 0o100000, dir: 0o040000, symlink: 0o120000 } as const;

const hex8 = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => (4 - (n % 4)) % 4;

function header(ino: number, e: { mode: number; uid: number; gid: number; nlink: number; size: number; nameSize: number }): string {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  return [
    '070701',
    hex8(ino),
    hex8(e.mode),
    hex8(e.uid),
    hex8(e.gid),
    hex8(e.nlink),
    hex8(0),
    hex8(e.size),
    hex8(0),
    hex8(0),
    hex8(0),
    hex8(0),
    hex8(e.nameSize),
    hex8(0),
  ].join('');
}

/** Adds the missing parent directories (0755, root) of every entry, parents first. */
export function withParents(entries: CpioEntry[]): CpioEntry[] {
  const seen = new Set(entries.filter((e) => e.type === 'dir').map((e) => e.path));
  const out: CpioEntry[] = [];
  for (const e of entries) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!seen.has(dir)) {
        seen.add(dir);
        out.push({ path: dir, type: 'dir', mode: 0o755 });
      }
    }
    out.push(e);
  }
  return out;
}

/** Serialises entries (parents added) into an uncompressed newc archive with its TRAILER. */
export function cpioNewc(entries: CpioEntry[]): Buffer {
  const chunks: Buffer[] = [];
  let ino = 1;
  const push = (name: string, mode: number, uid: number, gid: number, nlink: number, data: Buffer) => {
    const nameBuf = Buffer.from(`${name}\0`, 'utf8');
    const head = Buffer.from(header(ino++, { mode, uid, gid, nlink, size: data.length, nameSize: nameBuf.length }), 'ascii');
    chunks.push(head, nameBuf, Buffer.alloc(pad4(head.length + nameBuf.length)), data, Buffer.alloc(pad4(data.length)));
  };
  for (const e of withParents(entries)) {
    if (e.path.startsWith('/') || e.path.split('/').includes('..')) throw new Error(`cpio: bad path ${JSON.stringify(e.path)}`);
    const data = e.type === 'dir' ? Buffer.alloc(0) : Buffer.from(e.data ?? '');
    push(e.path, TYPE_BITS[e.type] | (e.mode & 0o7777), e.uid ?? 0, e.gid ?? 0, e.type === 'dir' ? 2 : 1, data);
  }
  push('TRAILER!!!', 0, 0, 0, 1, Buffer.alloc(0));
  return Buffer.concat(chunks);
}

/** gzip-compressed newc archive: initramfs pieces can be concatenated as they are. */
export function cpioGz(entries: CpioEntry[]): Buffer {
  return gzipSync(cpioNewc(entries), { level: 6 });
}
