// Start time of the CLI: `provision --version` and `--help`, spawned as a user would (node
// dist/src/cli.js), median of N runs (default 15), and how many modules each one loads.
//   npx tsc -p . && node dist/bench/cli-start.js [RUNS]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const RECORDER = fileURLToPath(new URL('../test/unit/helpers/load-recorder.js', import.meta.url));
const runs = Number(process.argv[2] ?? 15);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function loaded(args: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'cli-start-'));
  const log = join(dir, 'loads');
  try {
    execFileSync(process.execPath, ['--import', RECORDER, CLI, ...args], { env: { ...process.env, PROVISION_LOAD_LOG: log }, stdio: 'ignore' });
    return readFileSync(log, 'utf8').trim().split('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A bare `node -e 0` is the floor: what Node itself costs to start on this machine.
const cases: [string, string[]][] = [
  ['node -e 0 (floor)', ['-e', '0']],
  ['provision --version', [CLI, '--version']],
  ['provision --help', [CLI, '--help']],
];
console.log(`| command | median ms (${runs} runs) | min ms | modules loaded | ssh2 / listr2 / lab loaded |`);
console.log('|---|---|---|---|---|');
for (const [name, args] of cases) {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}`);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const mods = args[0] === CLI ? loaded(args.slice(1)) : [];
  const heavy = ['/node_modules/ssh2/', '/node_modules/listr2/', '/src/lab/'].map((p) => (mods.some((u) => u.includes(p)) ? 'yes' : 'no')).join(' / ');
  console.log(
    `| ${name} | ${median(times).toFixed(0)} | ${Math.min(...times).toFixed(0)} | ${args[0] === CLI ? mods.length : '-'} | ${args[0] === CLI ? heavy : '-'} |`,
  );
}
