// Every file of a batch read at once (PATH_READER) must print, for each probe, exactly what the
// probe's own script prints: same bytes, so guards and predictions never see a difference. Run by
// this machine's /bin/sh on real files of every kind, with and without the tools the fast path needs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { batchProbes } from '../../src/core/batch.js';
import { raw } from '../../src/core/shell.js';
import { CHANGED, CONTENT_LIMIT, UNREAD } from '../../src/modules/file-read.js';
import { PATH_READER, fileReads } from '../../src/modules/path-read.js';
import { fileProbe } from '../../src/modules/file.js';
import { sysctlProbe } from '../../src/modules/sysctl.js';
import { tempDir } from './helpers/local-host.js';
import { loggedTools } from './helpers/tool-wrappers.js';

function runSh(script: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
}

/** The output as sent, as a connection hands it to the batch (file contents travel raw). */
function runShBytes(script: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  return execFileSync('/bin/sh', ['-c', script], { env, maxBuffer: 64 * 1024 * 1024 });
}

/** The batch's output for each probe, and each probe's full script run alone. */
function both(probes: Parameters<typeof batchProbes>[0], env?: NodeJS.ProcessEnv) {
  const b = batchProbes(probes);
  const batched = b.split(runShBytes(b.script.text, env));
  const alone = probes.map((p) => {
    const s = 'text' in p ? p.text : p.script.text;
    return runSh(`( ${s}\n) </dev/null 2>/dev/null`, env);
  });
  return { batched, alone, script: b.script.text };
}

describe('file reads shared by a batch', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let paths: string[];
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await writeFile(join(dir, 'small'), 'hello\n');
    await writeFile(join(dir, 'empty'), '');
    await writeFile(join(dir, 'binary'), Buffer.from([0, 255, 10, 13, 0, 1, 2, 3]));
    // What the output's own structure is made of, and bytes that are no UTF-8, inside a file.
    await writeFile(join(dir, 'tricky'), Buffer.concat([Buffer.from('blob=\n-again-\n0.type=absent\n==> /x <==\n'), Buffer.from([0xc3, 0x28, 0xff])]));
    await writeFile(join(dir, "name with 'quote' and space"), 'q\n');
    await writeFile(join(dir, 'limit'), Buffer.alloc(CONTENT_LIMIT, 'x'));
    await writeFile(join(dir, 'big'), Buffer.alloc(CONTENT_LIMIT + 1, 'y'));
    await writeFile(join(dir, 'mode'), 'm\n');
    await chmod(join(dir, 'mode'), 0o4711);
    await mkdir(join(dir, 'sub'));
    await symlink(join(dir, 'small'), join(dir, 'link'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    paths = [
      'small',
      'empty',
      'binary',
      "name with 'quote' and space",
      'limit',
      'big',
      'mode',
      'sub',
      'link',
      'fifo',
      'absent',
      'sub/absent/deeper',
      'tricky',
    ].map((n) => join(dir, n));
  });
  after(() => cleanup());

  it('prints for every kind of path what its own script prints, in one survey', () => {
    const probes = paths.map((p) => fileProbe('file', p));
    const { batched, alone, script } = both(probes);
    assert.deepEqual(
      batched.map((o) => o.stdout),
      alone,
    );
    assert.ok(batched.every((o) => o.code === 0));
    // One survey frame: no probe script of its own in the batch.
    assert.equal(script.match(/ begin\\n' /g)?.length, 1);
    // Parsed: the big file hashed, the small ones read.
    const big = probes[5]!.parse(batched[5]!);
    assert.equal(big.content, undefined);
    assert.match(String(big.sha256), /^[0-9a-f]{64}$/);
    assert.equal(probes[2]!.parse(batched[2]!).content?.toString('hex'), '00ff0a0d00010203');
    assert.equal(
      probes[12]!.parse(batched[12]!).content?.toString('hex'),
      Buffer.from('blob=\n-again-\n0.type=absent\n==> /x <==\n\xc3\x28\xff', 'latin1').toString('hex'),
    );
  });

  // The fast path needs no base64: each file's content is printed as its own script prints it
  // (with neither base64 nor od, every file's own script: the survey would print what they cannot).
  for (const [what, base64, od, want, log] of [
    [
      'base64 rejects -w (busybox, old coreutils)',
      '#!/bin/sh\ncase "$1" in -w) echo "base64: invalid option" >&2; exit 1 ;; esac\nexec REAL "$@"\n',
      true,
      /^type=file\nstat=.*\nb64=aGVsbG8K\n$/,
      'tail\n',
    ],
    ['no base64 at all (coreutils < 6: od)', null, true, /^type=file\nstat=.*\nhex=68656c6c6f0a\n$/, 'tail\n'],
    ['neither base64 nor od', null, false, /^type=file\nstat=.*\nhex=\n$/, ''],
  ] as const) {
    it(`prints what each path's own script prints where ${what}: same bytes`, async () => {
      const { dir: bin, cleanup: done } = await tempDir();
      try {
        const which = (t: string) => execFileSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).trim();
        for (const t of ['stat', 'cat', 'tr', 'sha256sum', 'cut', ...(od ? ['od'] : [])]) await symlink(which(t), join(bin, t));
        if (base64) {
          await writeFile(join(bin, 'base64'), base64.replace('REAL', which('base64')));
          await chmod(join(bin, 'base64'), 0o755);
        }
        const calls = join(bin, 'calls');
        const env = { ...(await loggedTools(bin, calls, ['tail'])), PATH: bin };
        const probes = paths.map((p) => fileProbe('file', p));
        const { batched, alone } = both(probes, env);
        assert.deepEqual(
          batched.map((o) => o.stdout),
          alone,
        );
        assert.match(batched[0]!.stdout, want);
        // The survey read the contents with its one tail, or (no encoding) left every file to its own script.
        assert.equal(execFileSync('sh', ['-c', `cat '${calls}' 2>/dev/null; true`], { encoding: 'utf8' }), log);
      } finally {
        await done();
      }
    });
  }

  it("falls back to each path's own script when the survey's stat fails: same bytes", async () => {
    const { dir: bin, cleanup: done } = await tempDir();
    try {
      const real = execFileSync('sh', ['-c', 'command -v stat'], { encoding: 'utf8' }).trim();
      // The survey's stat is the only one with -L (a file's own script stats it without).
      await writeFile(join(bin, 'stat'), `#!/bin/sh\n[ "$1" = -L ] && exit 1\nexec ${real} "$@"\n`);
      await chmod(join(bin, 'stat'), 0o755);
      const probes = paths.map((p) => fileProbe('file', p));
      const { batched, alone } = both(probes, { ...process.env, PATH: `${bin}:${process.env.PATH}` });
      assert.deepEqual(
        batched.map((o) => o.stdout),
        alone,
      );
      assert.match(batched[0]!.stdout, /^type=file\nstat=.*\nb64=aGVsbG8K\n$/);
    } finally {
      await done();
    }
  });

  it('reads every small file with one stat and one tail, however many there are', async () => {
    const { dir: bin, cleanup: done } = await tempDir();
    try {
      const log = join(bin, 'calls');
      const env = await loggedTools(bin, log, ['stat', 'tail', 'base64']);
      const small = ['small', 'empty', 'binary', 'mode', 'sub', 'absent'].map((n) => join(dir, n));
      const { batched, alone } = both(
        small.map((p) => fileProbe('file', p)),
        env,
      );
      assert.deepEqual(
        batched.map((o) => o.stdout),
        alone,
      );
      // `alone` ran 4 regular files x (stat + base64) after the batch's 2 calls (no base64).
      const calls = execFileSync('cat', [log], { encoding: 'utf8' }).trim().split('\n');
      assert.deepEqual(calls.slice(0, 2), ['stat', 'tail']);
      assert.equal(calls.length, 2 + 8);
    } finally {
      await done();
    }
  });

  it('mixes with plain scripts and probes of their own, prefixes, and a path asked twice', () => {
    const persist = join(dir, 'small');
    const probes = [
      raw('echo plain'),
      sysctlProbe('kernel.ostype', persist),
      fileProbe('file', persist),
      fileReads(raw('echo own=1'), [
        { path: join(dir, 'sub'), prefix: 'a.' },
        { path: persist, prefix: 'b.' },
      ]),
    ];
    const { batched, alone, script } = both(probes);
    assert.deepEqual(
      batched.map((o) => o.stdout),
      alone,
    );
    assert.match(batched[1]!.stdout, /^runtime=Linux\npersist\.type=file\npersist\.stat=/m);
    assert.match(batched[3]!.stdout, /^own=1\na\.type=directory\nb\.type=file\n/);
    // The file read twice is read once: two files in the path survey (with the sysctl's value).
    assert.equal(script.match(/(^|\s)p\d+=\S*provision-test-/gm)?.length, 2);
  });

  // A file that changes size between the stat and the read: what a file's own script reports then
  // (content and size disagree: its task fails), never a content cut from the wrong place.
  for (const [what, act, bad] of [
    // b changes: b, c and d are reported (nothing after a misplaced head is trusted), a is read.
    ['grows', `printf more >> '%s'`, [1, 2, 3]],
    ['shrinks', `: > '%s'`, [1, 2, 3]],
    // c goes away: its head is missing, so b (whose end cannot be told from c's loss) goes with it.
    ['goes away', `rm -f '%s'`, [1, 2, 3]],
    // d, the last, shrinks: its head is in place, its content short; a, b and c are read.
    ['is the last and shrinks', `: > '%s'`, [3]],
  ] as const) {
    it(`reports a file that ${what} while read as changed, with the files after it; those before it are read`, async () => {
      const { dir: bin, cleanup: done } = await tempDir();
      const { dir: files, cleanup: gone } = await tempDir();
      try {
        const names = ['a', 'b', 'c', 'd'].map((n) => join(files, n));
        for (const f of names) await writeFile(f, `${f}\n`);
        const real = execFileSync('sh', ['-c', 'command -v tail'], { encoding: 'utf8' }).trim();
        // The change lands between the survey's stat and its read of the contents (b, or c when it goes away).
        const victim = what === 'goes away' ? names[2]! : what === 'is the last and shrinks' ? names[3]! : names[1]!;
        await writeFile(join(bin, 'tail'), `#!/bin/sh\n${act.replace('%s', victim)}\nexec ${real} "$@"\n`);
        await chmod(join(bin, 'tail'), 0o755);
        const probes = names.map((p) => fileProbe('file', p));
        const b = batchProbes(probes);
        const outs = b.split(runShBytes(b.script.text, { ...process.env, PATH: `${bin}:${process.env.PATH}` }));
        const failed = outs.map((o, k) => (o.stdout.includes(`error=${CHANGED}`) ? k : -1)).filter((k) => k >= 0);
        const want: number[] = [...bad];
        assert.deepEqual(failed, want);
        for (let k = 0; k < 4; k++) if (!want.includes(k)) assert.equal(probes[k]!.parse(outs[k]!).content?.toString(), `${names[k]}\n`);
        for (const k of want) assert.throws(() => probes[k]!.parse(outs[k]!), /changed while it was read/);
      } finally {
        await done();
        await gone();
      }
    });
  }

  // A stand-in for a tail without -v (BusyBox built without FEATURE_FANCY_TAIL): usage on stderr, exit 1.
  it('says so when tail printed nothing (a tail without -v), instead of asking for another run', async () => {
    const { dir: bin, cleanup: done } = await tempDir();
    const { dir: files, cleanup: gone } = await tempDir();
    try {
      const names = ['a', 'b'].map((n) => join(files, n));
      for (const f of names) await writeFile(f, `${f}\n`);
      const real = execFileSync('sh', ['-c', 'command -v tail'], { encoding: 'utf8' }).trim();
      await writeFile(
        join(bin, 'tail'),
        `#!/bin/sh\nfor a; do [ "$a" = -v ] && { echo "tail: invalid option -- 'v'" >&2; exit 1; }; done\nexec ${real} "$@"\n`,
      );
      await chmod(join(bin, 'tail'), 0o755);
      const probes = names.map((p) => fileProbe('file', p));
      const b = batchProbes(probes);
      const outs = b.split(runShBytes(b.script.text, { ...process.env, PATH: `${bin}:${process.env.PATH}` }));
      for (const [k, o] of outs.entries()) {
        assert.ok(o.stdout.includes(`error=${UNREAD}`), o.stdout);
        assert.throws(() => probes[k]!.parse(o), /tail without -v on this host/);
      }
    } finally {
      await done();
      await gone();
    }
  });

  it('refuses survey output it cannot trust, and cuts contents only where the heads are', () => {
    const keys = ['file:/a', 'file:/b'];
    const one = (size: number, blob: string) => `0.type=file\n0.stat=644 0 0 ${size} root root\nsmall= 0\nenc=b64\nblob=\n${blob}`;
    assert.throws(() => PATH_READER.split('0.type=file\n0.stat=644 0 0 1 root root\nsmall= 0\n', keys), /contents missing/);
    assert.throws(() => PATH_READER.split('5.type=absent\n', keys), /unexpected line/);
    assert.throws(() => PATH_READER.split('garbage\n', keys), /unexpected line/);
    assert.throws(() => PATH_READER.split('enc=b32\nblob=\n', keys), /unexpected line/);
    // Shorter or longer than the size, or no head: changed while read.
    assert.match(PATH_READER.split(one(1, ''), keys)[0]!, /error=not read: `tail -c \+1 -v` printed nothing/);
    for (const b of ['==> /a <==\n', '==> /a <==\nab', 'a', '==> /b <==\na'])
      assert.match(PATH_READER.split(one(1, b), keys)[0]!, new RegExp(`^type=file\nstat=644 0 0 1 root root\nerror=${CHANGED.replace(/[()]/g, '\\$&')}\n$`));
    assert.deepEqual(PATH_READER.split(`1.type=absent\n${one(1, '==> /a <==\na')}`, keys), [
      'type=file\nstat=644 0 0 1 root root\nb64=YQ==\n',
      'type=absent\n',
    ]);
    // Where the host has no base64, the content as its own script prints it there (od's hex).
    assert.deepEqual(PATH_READER.split(one(1, '==> /a <==\na').replace('enc=b64', 'enc=hex'), keys)[0], 'type=file\nstat=644 0 0 1 root root\nhex=61\n');
    // Two files: the second head follows the first content exactly; the last content ends the output.
    const two = `0.type=file\n0.stat=644 0 0 1 root root\n1.type=file\n1.stat=600 0 0 0 root root\nsmall= 0 1\nenc=b64\nblob=\n`;
    assert.deepEqual(PATH_READER.split(`${two}==> /a <==\na\n==> /b <==\n`, keys), [
      'type=file\nstat=644 0 0 1 root root\nb64=YQ==\n',
      'type=file\nstat=600 0 0 0 root root\nb64=\n',
    ]);
    // Bytes that are no UTF-8 are cut from the bytes as sent, not from their text.
    const bytes = Buffer.concat([Buffer.from(`${one(2, '==> /a <==\n')}`), Buffer.from([0xff, 0xfe])]);
    assert.equal(PATH_READER.split(bytes.toString('utf8'), keys, bytes)[0], 'type=file\nstat=644 0 0 2 root root\nb64=//4=\n');
    // A path ending in `blob=` is no start of the contents: only a line of its own is.
    assert.deepEqual(PATH_READER.split(`1.type=absent\n1.missing=/x/blob=\n${one(1, '==> /a <==\na')}`, keys)[1], 'type=absent\nmissing=/x/blob=\n');
  });
});
