// The last parse of each file a connection reads (ssh config, known_hosts, private key): every
// host of a run reads the same files, so a parse is reused while the file's bytes, and whatever
// else the parse took (a key's passphrase), are the same. The file is still read each time: a
// change between two hosts (a key accepted into known_hosts, a key replaced) is seen.
export class LastParse<T> {
  private readonly last = new Map<string, { bytes: string | Buffer; with: string | undefined; value: T }>();

  get(file: string, bytes: string | Buffer, parse: () => T, withValue?: string): T {
    const l = this.last.get(file);
    if (l && l.with === withValue && sameBytes(l.bytes, bytes)) return l.value;
    const value = parse();
    this.last.set(file, { bytes, with: withValue, value });
    return value;
  }
}

function sameBytes(a: string | Buffer, b: string | Buffer): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return a.equals(b);
}
