// template: a file rendered on the controller with Handlebars, then managed exactly like `file`.
import { existsSync, readFileSync } from 'node:fs';
import { relative, resolve, sep } from 'node:path';
import Handlebars from 'handlebars';
import type { Task, TaskContext } from '../core/types.js';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { TemplateError } from './errors.js';
import { contentTask, type FileState, type ManagedFileSpec } from './file.js';

export interface TemplateOptions extends ManagedFileSpec {
  /** Path relative to `<projectDir>/templates/`, else to provision's own templates/, e.g. "lvs/mon.cf.hbs". */
  template: string;
  /** Render data; merged over `{ host, facts, vars..., }`. A function receives the task context. */
  data?: Record<string, unknown> | ((ctx: TaskContext) => Record<string, unknown>);
}

/** A private Handlebars environment: helpers registered here never leak into other users of the library. */
function environment(): typeof Handlebars {
  const hb = Handlebars.create();
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('join', (list: unknown, sep: unknown) => {
    if (!Array.isArray(list)) throw new Error(`join expects an array, got ${typeof list}`);
    return list.join(typeof sep === 'string' ? sep : ',');
  });
  hb.registerHelper('upper', (s: unknown) => String(s).toUpperCase());
  return hb;
}

const env = environment();

/** Compiled once per distinct source: every host of a run renders the same few templates. */
const compiledBySource = new Map<string, HandlebarsTemplateDelegate>();
function compiled(source: string): HandlebarsTemplateDelegate {
  let t = compiledBySource.get(source);
  if (!t) {
    t = env.compile(source, { strict: true, noEscape: true });
    compiledBySource.set(source, t);
  }
  return t;
}

/**
 * The template's file: the project's templates/ first (a team's own, or its override of a shipped
 * one), then the package's own (the LVS templates when provision is installed as a dependency).
 */
export function templateFile(projectDir: string, template: string, host?: string): string {
  const roots = [...new Set([resolve(projectDir, 'templates'), resolve(PACKAGE_ROOT, 'templates')])];
  const files = roots.map((root) => {
    const file = resolve(root, template);
    const rel = relative(root, file);
    if (rel.startsWith('..') || rel.split(sep).includes('..'))
      throw new TemplateError(template, undefined, 'template path escapes the templates directory', host);
    return file;
  });
  return files.find((f) => existsSync(f)) ?? files[0]!;
}

/** Renders a template file; strict (a missing variable is an error) and unescaped (config files are not HTML). */
export function renderTemplate(projectDir: string, template: string, data: Record<string, unknown>, host?: string): string {
  const file = templateFile(projectDir, template, host);
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (e) {
    throw new TemplateError(template, undefined, `cannot read ${file}: ${(e as Error).message}`, host);
  }
  try {
    return compiled(source)(data);
  } catch (e) {
    const msg = (e as Error).message;
    // Handlebars strict mode: '"vip" not defined in [object Object] - 3:7'
    const m = /^"([^"]+)" not defined in .*? - (\d+):(\d+)/s.exec(msg);
    if (m) throw new TemplateError(template, m[1], `missing variable "${m[1]}" at line ${m[2]}, column ${m[3]}`, host);
    throw new TemplateError(template, undefined, `render failed: ${msg}`, host);
  }
}

export function template(opts: TemplateOptions): Task<FileState> {
  return contentTask('template', opts, (ctx) => {
    const extra = typeof opts.data === 'function' ? opts.data(ctx) : (opts.data ?? {});
    const data = { host: ctx.host, facts: ctx.facts, ...ctx.vars, ...extra };
    return Buffer.from(renderTemplate(ctx.projectDir, opts.template, data, ctx.host), 'utf8');
  });
}
