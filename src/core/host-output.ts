// A script's stdout as the host sent it. Scripts frame their parts with ASCII markers; a part may
// carry file contents raw (any bytes: the path reader's `tail` output travels without base64, a
// process less per host), so frames are found in the bytes and only then decoded as UTF-8.
import type { ExecResult } from './types.js';

/** A command's result from what it printed: stdout's bytes and their UTF-8 text, which always agree. */
export function execResult(code: number, stdout: Buffer | string, stderr: string): ExecResult {
  const bytes = typeof stdout === 'string' ? Buffer.from(stdout, 'utf8') : stdout;
  return { code, stdout: bytes.toString('utf8'), stdoutBytes: bytes, stderr };
}

/** One framed part: its bytes, their UTF-8 text, the exit code printed after it (NaN if unreadable). */
export interface Frame {
  bytes: Buffer;
  text: string;
  code: number;
  /** Where the search for the next frame goes on. */
  next: number;
}

export class HostOutput {
  readonly bytes: Buffer;
  /** The bytes as latin1, one character per byte: ASCII markers are searched here, an index is a byte offset. */
  readonly bin: string;

  constructor(out: string | Buffer) {
    this.bytes = typeof out === 'string' ? Buffer.from(out, 'utf8') : out;
    this.bin = this.bytes.toString('latin1');
  }

  /**
   * The part between `begin` (found at or after `from`) and `endMark`, with the number printed right
   * after `endMark`: `missing` when `begin` is not there, `open` when the part never ended.
   */
  frame(begin: string, endMark: string, from = 0): Frame | 'missing' | 'open' {
    const start = this.bin.indexOf(begin, from);
    if (start < 0) return 'missing';
    const end = this.bin.indexOf(endMark, start + begin.length);
    if (end < 0) return 'open';
    const codeStart = end + endMark.length;
    const nl = this.bin.indexOf('\n', codeStart);
    const code = Number.parseInt(this.bin.slice(codeStart, nl < 0 ? undefined : nl), 10);
    const bytes = this.bytes.subarray(start + begin.length, end);
    return { bytes, text: bytes.toString('utf8'), code, next: nl < 0 ? this.bin.length : nl };
  }
}
