// Shell scripts are a type. A `Script` can only be made by the `sh` tagged template (every
// interpolated value POSIX-quoted), by `raw()` (a deliberate, trusted fragment) or by
// `secret()` (quoted, and masked wherever a script is shown). A plain string is not a Script,
// so an unquoted value cannot reach a host by accident.

/** The one quoter: POSIX single-quoting, the only quoting with no special characters inside. */
function quote(value: string | number): string {
  const s = String(value);
  if (s.length > 0 && /^[A-Za-z0-9_/.,:=@%+-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const MASK = '***';
/**
 * The brand of every Script, in the global symbol registry: a team's playbook loaded through the
 * TypeScript loader gets its own copy of this module, and its Scripts must still compose with ours.
 */
const BRAND = Symbol.for('provision.Script');
/** Only this module holds it: sh``, raw(), secret() and Script.join are the only ways to make a Script. */
const TOKEN: unique symbol = Symbol('Script');

export class Script {
  readonly [BRAND] = true;

  /** A Script from any copy of this module (see BRAND). */
  static [Symbol.hasInstance](v: unknown): boolean {
    return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[BRAND] === true;
  }

  /** `text` is what the host runs; `display` is the same with every secret masked (logs, -v, journals). */
  constructor(
    token: typeof TOKEN,
    readonly text: string,
    readonly display: string,
  ) {
    if (token !== TOKEN) throw new TypeError('a Script is made with sh``, raw() or secret()');
  }

  /** Scripts joined by a separator ("\n", " && ", "; "). */
  static join(parts: readonly Script[], separator: string): Script {
    const text = parts.map((p) => p.text).join(separator);
    return new Script(TOKEN, text, parts.every((p) => p.text === p.display) ? text : parts.map((p) => p.display).join(separator));
  }

  get isEmpty(): boolean {
    return this.text.trim() === '';
  }

  // A Script interpolated into a plain template literal is a bug (the quoting guarantee and
  // the secret mask would be lost): show it loudly instead of sending "[object Object]".
  toString(): string {
    return `<Script: ${this.display}>`;
  }
}

/** A value `sh` accepts: quoted (string, number, each element of an array) or inserted as it is (Script). */
export type ShValue = string | number | Script | readonly (string | number | Script)[];

function piece(v: ShValue): [string, string] {
  if (v instanceof Script) return [v.text, v.display];
  if (Array.isArray(v)) {
    const parts = (v as readonly (string | number | Script)[]).map((x) => piece(x));
    return [parts.map((p) => p[0]).join(' '), parts.map((p) => p[1]).join(' ')];
  }
  const q = quote(v as string | number);
  return [q, q];
}

/** sh`ip addr add ${cidr} dev ${dev}`: every value quoted, Scripts composed as they are. */
export function sh(strings: TemplateStringsArray, ...values: ShValue[]): Script {
  const pieces = values.map(piece);
  let text = strings[0]!;
  pieces.forEach(([t], i) => {
    text += t + strings[i + 1]!;
  });
  // Nothing masked inside (the usual case): the display is the text itself, not a second copy.
  if (pieces.every(([t, d]) => t === d)) return new Script(TOKEN, text, text);
  let display = strings[0]!;
  pieces.forEach(([, d], i) => {
    display += d + strings[i + 1]!;
  });
  return new Script(TOKEN, text, display);
}

/** A trusted fragment inserted without quoting (a redirection, a fixed pipeline, a script read from our own journal). */
export function raw(text: string): Script {
  return new Script(TOKEN, text, text);
}

/** A value the host needs but no log may show: quoted in `text`, masked in `display`. */
export function secret(value: string): Script {
  return new Script(TOKEN, quote(value), MASK);
}

/** One command line from an argument vector, each argument quoted. */
export function cmd(...args: (string | number)[]): Script {
  return sh`${args}`;
}

/** Makes sbin tools (sysctl, modprobe, ipvsadm, ...) findable when sudo or ssh gave a user PATH (old EL). */
export const SBIN_PATH = raw('PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; export PATH');
