// Typed errors of the engine: each carries the host and task it happened in.

export class TaskError extends Error {
  constructor(
    readonly host: string,
    readonly task: string,
    message: string,
    readonly detail?: { script?: string; code?: number; stderr?: string },
  ) {
    super(`${host}: ${task}: ${message}`);
    this.name = 'TaskError';
  }
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Exit codes of the CLI (documented in the README). */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  /** `check` found drift (like terraform plan -detailed-exitcode). */
  drift: 3,
} as const;
