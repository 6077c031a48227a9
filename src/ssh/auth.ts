// Collects the ways to log in (keys, agent, password) before dialling, so a missing or
// encrypted key is reported plainly instead of as a vague "authentication failed".
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { AuthenticationType, AuthHandlerMiddleware, NextAuthHandler, ParsedKey } from 'ssh2';
import { TransportError } from './errors.js';
import { LastParse } from './last-parse.js';

const { utils } = ssh2;

export type AuthMethod =
  /** key: parsed once here (ssh2 takes it as it is; a file of several keys stays raw). */
  | { type: 'publickey'; label: string; key: ParsedKey | Buffer; passphrase?: string }
  | { type: 'agent'; label: string; socket: string }
  | { type: 'password'; label: string; password: string };

export interface AuthSources {
  host: string;
  endpoint: string;
  identityFiles: string[];
  /** Inventory named the key: a missing/unreadable/undecryptable one is an error, not a skip. */
  explicitKey: boolean;
  passwordEnv?: string;
  keyPassphraseEnv?: string;
  env: NodeJS.ProcessEnv;
}

export interface AuthPlan {
  methods: AuthMethod[];
  /** Why some sources were not usable, for the final error message. */
  skipped: string[];
}

/** Every host of a run usually logs in with the same key; a parse (an encrypted key's bcrypt rounds above all) is the costly part. */
const parsedKeys = new LastParse<ReturnType<typeof utils.parseKey>>();

export async function collectAuth(src: AuthSources): Promise<AuthPlan> {
  const methods: AuthMethod[] = [];
  const skipped: string[] = [];
  const fail = (detail: string, cause?: unknown) => new TransportError('auth', src.host, src.endpoint, detail, { cause });
  const passphrase = src.keyPassphraseEnv ? src.env[src.keyPassphraseEnv] : undefined;

  for (const file of src.identityFiles) {
    let data: Buffer;
    try {
      // Read at once (fs.promises costs four hops through the thread pool): every host reads it.
      data = readFileSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (!src.explicitKey && code === 'ENOENT') continue; // default key names that simply do not exist
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : (e as Error).message;
      if (src.explicitKey) throw fail(`private key ${file} ${why}`, e);
      skipped.push(`publickey ${file} (${why})`);
      continue;
    }
    const parsed = parsedKeys.get(file, data, () => utils.parseKey(data, passphrase), passphrase);
    const err = parsed instanceof Error ? parsed : Array.isArray(parsed) ? null : parsed.isPrivateKey() ? null : new Error('not a private key');
    if (err) {
      const encrypted = /passphrase|encrypted|decrypt/i.test(err.message);
      const why = encrypted
        ? passphrase === undefined
          ? `is encrypted and no passphrase is available${src.keyPassphraseEnv ? ` (env ${src.keyPassphraseEnv} is not set)` : ''}`
          : `could not be decrypted with the passphrase from env ${src.keyPassphraseEnv}`
        : `cannot be parsed: ${err.message}`;
      if (src.explicitKey) throw fail(`private key ${file} ${why}`, err);
      skipped.push(`publickey ${file} (${why})`);
      continue;
    }
    methods.push({
      type: 'publickey',
      label: `publickey ${file}`,
      key: Array.isArray(parsed) || parsed instanceof Error ? data : parsed,
      ...(passphrase !== undefined ? { passphrase } : {}),
    });
  }

  const sock = src.env['SSH_AUTH_SOCK'];
  if (sock) methods.push({ type: 'agent', label: `ssh-agent (${sock})`, socket: sock });

  if (src.passwordEnv) {
    const pw = src.env[src.passwordEnv];
    if (pw) methods.push({ type: 'password', label: `password from env ${src.passwordEnv}`, password: pw });
    else skipped.push(`password (env ${src.passwordEnv} is not set)`);
  }

  if (methods.length === 0) {
    throw fail(`no way to authenticate: no usable private key, no SSH_AUTH_SOCK, no password env${skipped.length ? `; ${skipped.join('; ')}` : ''}`);
  }
  return { methods, skipped };
}

/** ssh2 auth handler that walks our methods in order and records what it tried. */
export function authHandler(plan: AuthPlan, username: string, tried: string[]): AuthHandlerMiddleware {
  let i = 0;
  return (methodsLeft: AuthenticationType[] | null, _partial: boolean | null, next: NextAuthHandler) => {
    while (i < plan.methods.length) {
      const m = plan.methods[i++]!;
      // Skip what the server says it will not take (null = it has not told us yet).
      if (methodsLeft && !methodsLeft.includes(m.type === 'agent' ? 'publickey' : m.type)) continue;
      tried.push(m.label);
      if (m.type === 'publickey') return next({ type: 'publickey', username, key: m.key, ...(m.passphrase !== undefined ? { passphrase: m.passphrase } : {}) });
      if (m.type === 'agent') return next({ type: 'agent', username, agent: m.socket });
      return next({ type: 'password', username, password: m.password });
    }
    return next(false as never);
  };
}
