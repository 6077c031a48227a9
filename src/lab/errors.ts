import { EXIT, ProvisionError, type ExitCode } from '../core/provision-error.js';

// Typed errors of the lab: each carries the context needed to act on it
// (which lab, which host, which command, what it printed).

export interface LabErrorContext {
  lab?: string;
  host?: string;
  command?: string;
  code?: number | null;
  stderr?: string;
  path?: string;
  [key: string]: unknown;
}

export class LabError extends ProvisionError {
  readonly exitCode: ExitCode = EXIT.failed;
  readonly context: LabErrorContext;
  constructor(message: string, context: LabErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.context = context;
  }
}

/** A system command (ip, mmdebstrap, ssh-keygen, ...) exited non-zero or could not start. */
export class LabCommandError extends LabError {}

/** Something did not become ready (sshd banner, build lock, process exit) in time. */
export class LabTimeoutError extends LabError {}

/** The lab or host named does not exist. */
export class LabNotFoundError extends LabError {}

/** The requested operation is not possible in this lab or with this driver. */
export class LabUnsupportedError extends LabError {}
