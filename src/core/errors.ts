// Typed errors of the engine: each carries the host and task it happened in.
import { EXIT, ProvisionError } from './provision-error.js';

export { EXIT, ProvisionError, exitCodeOf, type ExitCode } from './provision-error.js';

export class TaskError extends ProvisionError {
  readonly exitCode = EXIT.failed;
  constructor(
    readonly host: string,
    readonly task: string,
    message: string,
    readonly detail?: { script?: string; code?: number; stderr?: string },
  ) {
    super(`${host}: ${task}: ${message}`);
  }
}

/** A command line that cannot be carried out as given (bad option, unknown host or run). */
export class UsageError extends ProvisionError {
  readonly exitCode = EXIT.usage;
}

/** A run journal that cannot be read or replayed. */
export class JournalError extends ProvisionError {
  readonly exitCode = EXIT.failed;
}

/** A host whose own configuration rules out what the inventory asks (e.g. an old kernel with no ARP method set). */
export class HostConfigError extends ProvisionError {
  readonly exitCode = EXIT.failed;
  constructor(
    readonly host: string,
    message: string,
  ) {
    super(`${host}: ${message}`);
  }
}
