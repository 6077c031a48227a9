// ssh config resolution: inventory > ssh config > defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeSshConfig, expandPath, mergeSettings, parseJumpSpec, readSshConfig, resolveEndpoint } from '../../src/ssh/ssh-config.js';
import { TransportError } from '../../src/ssh/errors.js';
import { explicitSettings } from '../../src/ssh/connection.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CFG = path.join(root, 'test/fixtures/ssh/ssh_config');
const HOME = '/home/tester';

test('values for an alias: first match wins, lists accumulate, ~ and %d/%r expand', async () => {
  const v = await readSshConfig('web1', CFG, HOME);
  assert.deepEqual(v, {
    hostName: '10.1.0.11',
    port: 2201,
    user: 'deploy',
    proxyJump: 'bastion',
    identityFiles: ['~/.ssh/web1_key', '%d/.ssh/web_%r'],
  });
  const ep = await resolveEndpoint('web1', {}, { configFile: CFG, homeDir: HOME });
  assert.deepEqual(ep, {
    address: '10.1.0.11',
    port: 2201,
    user: 'deploy',
    identityFiles: ['/home/tester/.ssh/web1_key', '/home/tester/.ssh/web_deploy'],
    explicitKey: false,
    proxyJump: 'bastion',
  });
});

test('inventory values win over ssh config', async () => {
  const ep = await resolveEndpoint(
    'web1',
    { address: '192.0.2.5', port: 22022, user: 'ops', privateKeyFile: '~/keys/inv', proxyJump: 'other' },
    { configFile: CFG, homeDir: HOME },
  );
  assert.deepEqual(ep, {
    address: '192.0.2.5',
    port: 22022,
    user: 'ops',
    identityFiles: ['/home/tester/keys/inv'],
    explicitKey: true,
    proxyJump: 'other',
  });
});

test('defaults apply when neither says anything; "none" clears ProxyJump and IdentityFile', async () => {
  const ep = await resolveEndpoint('plain', {}, { configFile: CFG, homeDir: HOME });
  assert.equal(ep.address, 'plain');
  assert.equal(ep.port, 22);
  assert.equal(ep.user, 'fallback');
  assert.equal(ep.proxyJump, undefined);
  assert.deepEqual(
    ep.identityFiles,
    ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((k) => `/home/tester/.ssh/${k}`),
  );
  const nj = await readSshConfig('nojump', CFG, HOME);
  assert.equal(nj.proxyJump, undefined);
  assert.deepEqual(nj.identityFiles, []);
  const nouser = mergeSettings('x', {}, { identityFiles: [] }, { homeDir: HOME, defaultUser: 'root' });
  assert.equal(nouser.user, 'root');
});

test('a bad Port, or an explicitly named config that is missing, is a config error', async () => {
  await assert.rejects(
    readSshConfig('badport', CFG, HOME),
    (e: unknown) => e instanceof TransportError && e.kind === 'config' && /Port "notaport"/.test(e.message),
  );
  await assert.rejects(readSshConfig('x', '/nonexistent/ssh_config', HOME), (e: unknown) => e instanceof TransportError && e.kind === 'config');
  // The default location may simply not exist.
  assert.deepEqual(await readSshConfig('x', undefined, '/nonexistent-home'), { identityFiles: [] });
});

test('Match exec is never run while reading a config', () => {
  const marker = `/tmp/provision-match-exec-${process.pid}`;
  const v = computeSshConfig(`Match exec "touch ${marker}"\n  User evil\nHost *\n  User good\n`, 'h');
  assert.equal(v.user, 'good');
  assert.throws(() => readFileSync(marker));
});

test('path tokens', () => {
  const t = { home: HOME, host: 'h1', remoteUser: 'ru', port: 2200, localUser: 'lu' };
  assert.equal(expandPath('~/k_%h_%r_%p_%u_%%', t), '/home/tester/k_h1_ru_2200_lu_%');
  assert.equal(expandPath('/abs/%d', t), '/abs//home/tester');
});

test('ProxyJump spec parsing', () => {
  assert.deepEqual(parseJumpSpec('bastion'), { host: 'bastion', more: false });
  assert.deepEqual(parseJumpSpec('ops@10.0.0.1:2222'), { user: 'ops', host: '10.0.0.1', port: 2222, more: false });
  assert.deepEqual(parseJumpSpec('[fe80::1]:22,next'), { host: 'fe80::1', port: 22, more: true });
});

test('inventory defaults are recognised: address == name, port 22, empty user', () => {
  assert.deepEqual(explicitSettings({ name: 'web1', address: 'web1', port: 22, user: '', become: false }), {});
  assert.deepEqual(explicitSettings({ name: 'web1', address: '10.0.0.9', port: 2222, user: 'root', become: false, privateKeyFile: '/k' }), {
    address: '10.0.0.9',
    port: 2222,
    user: 'root',
    privateKeyFile: '/k',
  });
});
