import { EXIT, ProvisionError } from '../core/provision-error.js';

// Typed errors of the modules: each names the module, the host when known, and what went wrong.

export class ModuleError extends ProvisionError {
  readonly exitCode = EXIT.failed;
  constructor(
    readonly module: string,
    readonly detail: string,
    readonly host?: string,
  ) {
    super(`${module}${host ? ` on ${host}` : ''}: ${detail}`);
  }
}

/** A Handlebars template failed to load or render (e.g. a variable the strict mode found missing). */
export class TemplateError extends ModuleError {
  constructor(
    readonly template: string,
    /** Name of the missing variable, when that is the cause. */
    readonly variable: string | undefined,
    detail: string,
    host?: string,
  ) {
    super('template', `${template}: ${detail}`, host);
  }
}

/** A controller-side artifact does not have the sha256 the playbook pins. */
export class ArtifactChecksumError extends ModuleError {
  constructor(
    module: string,
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
    host?: string,
  ) {
    super(module, `sha256 mismatch for ${file}: expected ${expected}, got ${actual}`, host);
  }
}
