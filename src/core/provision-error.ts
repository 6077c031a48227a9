// The one root of every error provision raises on purpose. Each kind carries the exit code the
// CLI returns for it, so the CLI maps errors with `instanceof`, never by name strings.

/** Exit codes of the CLI (documented in the README). */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  /** `check` found drift (like terraform plan -detailed-exitcode). */
  drift: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export abstract class ProvisionError extends Error {
  /** What the CLI exits with when this error ends a command. */
  abstract readonly exitCode: ExitCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The host could not be reached or talked to (refused, timed out, authentication, host key,
 * a broken channel). The transport's errors extend it, so the engine can tell "unreachable"
 * from a host that answered but cannot be configured as asked, without knowing SSH.
 */
export abstract class ConnectionError extends ProvisionError {}

/** The exit code for any error: a ProvisionError's own, else "failed" (a bug or a system error). */
export function exitCodeOf(e: unknown): ExitCode {
  return e instanceof ProvisionError ? e.exitCode : EXIT.failed;
}
