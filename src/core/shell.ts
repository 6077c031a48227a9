// Every value that reaches a remote shell goes through q(): POSIX single-quoting,
// the only quoting that has no special characters inside it.
export function q(value: string | number): string {
  const s = String(value);
  if (s.length > 0 && /^[A-Za-z0-9_\/.,:=@%+-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Join an argument vector into one shell command line, each argument quoted. */
export function argv(...args: (string | number)[]): string {
  return args.map(q).join(' ');
}

/** Replace every secret occurrence in text (for logs and --verbose output). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 3) out = out.split(s).join('***');
  return out;
}
