import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { renderTemplate, template } from '../../../src/modules/template.js';
import { TemplateError } from '../../../src/modules/errors.js';
import { applyAll, planLocally, runSteps, tempDir, testContext } from '../helpers/local-host.js';

// The sample templates shipped in templates/sample, resolved from the repo root (cwd of npm test).
const repo = process.cwd();

describe('template rendering', () => {
  it('renders the sample with eq/join/upper helpers, unescaped', () => {
    const out = renderTemplate(repo, 'sample/service.conf.hbs', {
      service: { name: 'web', vip: '10.0.0.10', port: 80, scheduler: 'wlc', mode: 'dr', persistent: true, options: ['a&b', '<c>'] },
      servers: [
        { address: '10.0.0.11', weight: 1 },
        { address: '10.0.0.12', weight: 3 },
      ],
    });
    assert.match(out, /^# WEB$/m);
    assert.match(out, /^virtual = 10\.0\.0\.10:80$/m);
    assert.match(out, /^forwarding = gatewaying$/m);
    assert.match(out, /^options = a&b,<c>$/m, 'noEscape keeps & and < as is');
    assert.match(out, /^persistent = yes$/m);
    assert.match(out, /^real = 10\.0\.0\.12:80 weight 3$/m);
  });

  it('a missing variable names the template, variable and position', () => {
    assert.throws(
      () => renderTemplate(repo, 'sample/service.conf.hbs', { service: { name: 'web', port: 80, mode: 'nat', options: [] }, servers: [] }),
      (e: unknown) =>
        e instanceof TemplateError && e.template === 'sample/service.conf.hbs' && e.variable === 'vip' && /missing variable "vip" at line \d+/.test(e.message),
    );
  });

  it('a missing template file and a path escaping templates/ are TemplateErrors', () => {
    assert.throws(
      () => renderTemplate(repo, 'sample/nope.hbs', {}),
      (e: unknown) => e instanceof TemplateError && /cannot read/.test(e.message),
    );
    assert.throws(() => renderTemplate(repo, '../package.json', {}), /escapes the templates directory/);
  });
});

describe('template on this machine (real sh)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  it('renders from projectDir/templates with vars + data, applies, is idempotent and undoes', async () => {
    await mkdir(join(dir, 'templates'));
    await writeFile(join(dir, 'templates', 'motd.hbs'), 'host {{host}} ({{facts.os.family}}) role={{role}} {{upper greeting}}\n');
    const path = join(dir, 'motd');
    await writeFile(path, 'previous\n');
    const ctx = testContext({ projectDir: dir, vars: { role: 'director', greeting: 'x' } });
    const t = template({ path, template: 'motd.hbs', data: { greeting: 'hello' } });
    assert.equal(t.module, 'template');
    const changes = await planLocally(t, ctx);
    assert.match(changes[0]!.diff!, /^\+host testhost \(debian\) role=director HELLO$/m);
    const undo = await applyAll(changes);
    assert.equal(await readFile(path, 'utf8'), 'host testhost (debian) role=director HELLO\n');
    assert.deepEqual(await planLocally(t, ctx), []);
    await runSteps(undo);
    assert.equal(await readFile(path, 'utf8'), 'previous\n');
  });

  it('plan rejects with TemplateError naming the host', async () => {
    const t = template({ path: join(dir, 'x'), template: 'sample/service.conf.hbs', data: {} });
    await assert.rejects(planLocally(t, testContext({ projectDir: resolve(repo) })), (e: unknown) => e instanceof TemplateError && e.host === 'testhost');
  });
});
