// Where the project lives, wherever the CLI is started from (templates/ and compiled playbooks).
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/ (this file is dist/src/cli/paths.js). */
export const distDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The repository root: templates/, inventory/ live here. */
export const projectDir = resolve(distDir, '..');
