// provision against ansible-playbook on the same container-lab hosts, with the `sample` playbook
// and its Ansible twin (bench/ansible/sample.yml), forks equal. Per size and run: a fresh lab,
// `provision up` (first converge), then the ssh2 floor, `provision check` (no-op) and the floor
// again (check / floor: the check against the mean of the floors right before and after it, on
// the same lab in the same minute); a fresh lab again, `ansible-playbook` (first converge) and
// `ansible-playbook --check` (no-op). Prints medians and writes bench/results/vs-ansible.json.
// Installs Debian's ansible-core if missing.
// Run it alone, under the container-lab lock:
//   npx tsc -p . && flock /tmp/provision-ct.lock node dist/bench/vs-ansible.js --sizes 3,25,100 --runs 3 --forks 10
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PYTHON_IMAGE } from '../src/lab/image.js';
import { labDown, labUp, type LabUpResult } from '../src/lab/index.js';
import { flag, logOffsets, machine, median, numbers, sshdCounts, sshFloor, type Timed, timed } from './common.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'dist/src/cli.js');
const ANSIBLE_DIR = join(ROOT, 'bench/ansible');
const LAB = 'bench-vs-ansible';

const sizes = numbers(flag('sizes', '3,25,100'));
const runs = Number(flag('runs', '3'));
const forks = Number(flag('forks', '10'));
const out = resolve(flag('out', join(ROOT, 'bench/results/vs-ansible.json')));
// --keep: the samples of other sizes already in `out` stay (a long bench can be run size by size).
const keep = process.argv.includes('--keep');
// --table: print the table of `out` without measuring.
const tableOnly = process.argv.includes('--table');
// --tools provision: measure provision (and the floor) only; with --keep, Ansible's samples of the
// same sizes stay (provision re-measured after a change, Ansible as it was: the JSON keeps both dates).
const tools = new Set(flag('tools', 'provision,ansible').split(','));
const measures = (p: Phase) => tools.has(p.startsWith('ansible') ? 'ansible' : 'provision');

type Phase = 'floor' | 'provisionConverge' | 'provisionCheck' | 'ansibleConverge' | 'ansibleCheck';
interface Sample {
  size: number;
  run: number;
  phase: Phase;
  wallMs: number;
  cpuS?: number;
  peakTreeRssMb?: number;
  /** Per host, as sshd logged them: connections and session requests (exec/subsystem/shell). */
  connectionsPerHost?: number;
  sessionsPerHost?: number;
  /** provision's own count (its recap), per host. */
  reportedRoundTripsPerHost?: number;
  /** Hosts whose result was not the expected one (changes in a no-op, none in a converge); kept, not hidden. */
  unexpected?: string[];
  load1: number;
  /** When it was measured (a --tools provision run keeps older Ansible samples). */
  at?: string;
}

function ensureAnsible(): string {
  try {
    return execFileSync('ansible-playbook', ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
  } catch {
    console.error('installing ansible-core (Debian package) for the bench');
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'ansible-core'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    return execFileSync('ansible-playbook', ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
  }
}

function fail(what: string, r: Timed): never {
  throw new Error(`${what} exited ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
}

async function freshLab(size: number): Promise<{ lab: LabUpResult; logs: string[] }> {
  await labDown(LAB).catch(() => {});
  const lab = await labUp({ name: LAB, hosts: size, driverOptions: { image: PYTHON_IMAGE, log: (l) => console.error(l) } });
  return { lab, logs: lab.hosts.map((h) => join(lab.dir, h.name, 'sshd.log')) };
}

/** Runs one phase and adds what sshd saw per host. */
async function phase(
  size: number,
  run: number,
  name: Phase,
  logs: string[],
  fn: () => Promise<Timed>,
  check: (r: Timed) => { roundTrips?: number; unexpected: string[] },
): Promise<Sample> {
  const offsets = await logOffsets(logs);
  const r = await fn();
  const { roundTrips: reported, unexpected } = check(r);
  if (unexpected.length > 0) console.error(`  WARNING ${name}: unexpected result on ${unexpected.join(', ')}`);
  const { connections, sessions } = await sshdCounts(logs, offsets);
  const s: Sample = {
    size,
    run,
    phase: name,
    wallMs: r.wallMs,
    cpuS: r.cpuS,
    peakTreeRssMb: r.peakTreeRssMb,
    connectionsPerHost: connections,
    sessionsPerHost: sessions,
    ...(reported !== undefined ? { reportedRoundTripsPerHost: reported } : {}),
    ...(unexpected.length > 0 ? { unexpected } : {}),
    load1: r.load1,
    at: new Date().toISOString(),
  };
  console.error(`  ${name}: ${(r.wallMs / 1000).toFixed(1)} s, cpu ${r.cpuS.toFixed(1)} s, ${sessions.toFixed(1)} sessions/host, load ${r.load1}`);
  return s;
}

/**
 * provision's JSON report: no host failed; returns its round trips per host and the hosts whose
 * `changed` was not as expected (exit 3 = a check found drift: measured, and reported).
 */
function provisionChecked(what: string, expectChanges: boolean) {
  return (r: Timed) => {
    if (r.code !== 0 && r.code !== 3) fail(what, r);
    const report = JSON.parse(r.stdout) as { hosts: { host: string; error?: string; recap: { changed: number; failed: number }; roundTrips: number }[] };
    const failed = report.hosts.filter((h) => h.error || h.recap.failed > 0);
    if (failed.length > 0) fail(`${what}: failed on ${failed.map((h) => h.host).join(', ')}`, r);
    return {
      roundTrips: report.hosts.reduce((a, h) => a + h.roundTrips, 0) / report.hosts.length,
      unexpected: report.hosts.filter((h) => h.recap.changed > 0 !== expectChanges).map((h) => h.host),
    };
  };
}

/** ansible-playbook's PLAY RECAP: every host reached and ok, `changed` as expected. */
function ansibleChecked(what: string, size: number, expectChanges: boolean) {
  return (r: Timed) => {
    if (r.code !== 0) fail(what, r);
    const recap = [...r.stdout.matchAll(/^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)];
    if (recap.length !== size || recap.some((m) => m[4] !== '0' || m[5] !== '0')) fail(`${what}: unexpected recap`, r);
    return { unexpected: recap.filter((m) => (m[3] !== '0') !== expectChanges).map((m) => m[1]!) };
  };
}

async function ansibleInventory(lab: LabUpResult): Promise<string> {
  const file = join(lab.dir, 'ansible-hosts.ini');
  const lines = lab.hosts.map((h) => `${h.name} ansible_host=${h.address}`);
  await writeFile(file, `[lab]\n${lines.join('\n')}\n\n[all:vars]\nansible_user=root\nansible_ssh_private_key_file=${lab.keyFile}\n`);
  return file;
}

async function ansible(lab: LabUpResult, inventory: string, extra: string[]): Promise<Timed> {
  // A fresh control-path dir per run: no run reuses another's open connections.
  const cp = await mkdtemp('/tmp/bench-acp-');
  try {
    return await timed('ansible-playbook', ['-i', inventory, '-f', String(forks), ...extra, join(ANSIBLE_DIR, 'sample.yml')], {
      env: {
        ...process.env,
        ANSIBLE_CONFIG: join(ANSIBLE_DIR, 'ansible.cfg'),
        ANSIBLE_SSH_CONTROL_PATH_DIR: cp,
        ANSIBLE_SSH_ARGS: `-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=${lab.knownHosts} -o StrictHostKeyChecking=yes`,
        ANSIBLE_LOCAL_TEMP: join(cp, 'tmp'),
        ANSIBLE_HOME: join(cp, 'home'),
      },
    });
  } finally {
    // Close the masters (ControlPersist) so they neither linger nor serve the next run.
    execFileSync('sh', ['-c', `for s in ${cp}/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x 2>/dev/null; done; true`]);
    await rm(cp, { recursive: true, force: true });
  }
}

const provision = (lab: LabUpResult, cmd: 'up' | 'check') =>
  timed('node', [CLI, cmd, lab.inventory, 'sample', '--forks', String(forks), '--json', '--state-dir', join(lab.dir, 'state')]);

async function measureRun(size: number, run: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  console.error(`size ${size}, run ${run}`);
  let { lab, logs } = await freshLab(size);
  if (!tools.has('provision')) throw new Error('--tools must include provision (its lab run holds the floor)');
  const floor = async () => {
    const load1 = loadavg()[0]!;
    const wallMs = await sshFloor(lab.hosts, lab.keyFile, lab.knownHosts, forks);
    console.error(`  floor: ${(wallMs / 1000).toFixed(1)} s`);
    return { size, run, phase: 'floor' as const, wallMs, load1, at: new Date().toISOString() };
  };
  samples.push(await phase(size, run, 'provisionConverge', logs, () => provision(lab, 'up'), provisionChecked('provision up', true)));
  samples.push(await floor());
  samples.push(await phase(size, run, 'provisionCheck', logs, () => provision(lab, 'check'), provisionChecked('provision check', false)));
  samples.push(await floor());
  if (!tools.has('ansible')) return samples;
  ({ lab, logs } = await freshLab(size));
  const inv = await ansibleInventory(lab);
  samples.push(await phase(size, run, 'ansibleConverge', logs, () => ansible(lab, inv, []), ansibleChecked('ansible-playbook', size, true)));
  samples.push(await phase(size, run, 'ansibleCheck', logs, () => ansible(lab, inv, ['--check']), ansibleChecked('ansible-playbook --check', size, false)));
  return samples;
}

interface Row {
  hosts: number;
  runs: number;
  [k: string]: number;
}

function summarize(samples: Sample[]): Row[] {
  return [...new Set(samples.map((s) => s.size))]
    .sort((a, b) => a - b)
    .map((size) => {
      const of = (p: Phase) => samples.filter((s) => s.size === size && s.phase === p);
      const med = (p: Phase, k: keyof Sample) => median(of(p).map((s) => Number(s[k] ?? Number.NaN)));
      const sec = (p: Phase) => med(p, 'wallMs') / 1000;
      // Each check against the mean of its run's floors (taken right before and after it).
      const overFloor = of('provisionCheck').map((c) => {
        const fl = of('floor').filter((f) => f.run === c.run);
        return c.wallMs / (fl.reduce((a, f) => a + f.wallMs, 0) / fl.length);
      });
      return {
        hosts: size,
        runs: new Set(of('provisionCheck').map((s) => s.run)).size,
        floorS: sec('floor'),
        provisionConvergeS: sec('provisionConverge'),
        provisionCheckS: sec('provisionCheck'),
        ansibleConvergeS: sec('ansibleConverge'),
        ansibleCheckS: sec('ansibleCheck'),
        convergeRatio: sec('ansibleConverge') / sec('provisionConverge'),
        checkRatio: sec('ansibleCheck') / sec('provisionCheck'),
        checkOverFloor: median(overFloor),
        provisionConvergeSessions: med('provisionConverge', 'sessionsPerHost'),
        provisionCheckSessions: med('provisionCheck', 'sessionsPerHost'),
        ansibleConvergeSessions: med('ansibleConverge', 'sessionsPerHost'),
        ansibleCheckSessions: med('ansibleCheck', 'sessionsPerHost'),
        provisionConvergeCpuS: med('provisionConverge', 'cpuS'),
        provisionCheckCpuS: med('provisionCheck', 'cpuS'),
        ansibleConvergeCpuS: med('ansibleConverge', 'cpuS'),
        ansibleCheckCpuS: med('ansibleCheck', 'cpuS'),
        provisionPeakMb: Math.max(...[...of('provisionConverge'), ...of('provisionCheck')].map((s) => s.peakTreeRssMb ?? 0)),
        ansiblePeakMb: Math.max(...[...of('ansibleConverge'), ...of('ansibleCheck')].map((s) => s.peakTreeRssMb ?? 0)),
        load1: median(of('floor').map((s) => s.load1)),
      };
    });
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
// (no sample of a tool: Math.max() of nothing is -Infinity)
const mb = (n: number) => (Number.isFinite(n) ? String(Math.round(n)) : '-');

function table(rows: Row[]): string {
  const head = [
    'hosts',
    'floor s',
    'provision converge s',
    'ansible converge s',
    'converge ×',
    'provision check s',
    'ansible --check s',
    'check ×',
    'check / floor',
    'round trips/host converge (prov / ans)',
    'round trips/host no-op (prov / ans)',
    'controller CPU s check (prov / ans)',
    'controller CPU s converge (prov / ans)',
    'peak controller MB (prov / ans)',
    'load',
  ];
  const lines = rows.map((r) =>
    [
      r.hosts,
      f1(r.floorS!),
      f1(r.provisionConvergeS!),
      f1(r.ansibleConvergeS!),
      f1(r.convergeRatio!),
      f1(r.provisionCheckS!),
      f1(r.ansibleCheckS!),
      f1(r.checkRatio!),
      f1(r.checkOverFloor!),
      `${f1(r.provisionConvergeSessions!)} / ${f1(r.ansibleConvergeSessions!)}`,
      `${f1(r.provisionCheckSessions!)} / ${f1(r.ansibleCheckSessions!)}`,
      `${f1(r.provisionCheckCpuS!)} / ${f1(r.ansibleCheckCpuS!)}`,
      `${f1(r.provisionConvergeCpuS!)} / ${f1(r.ansibleConvergeCpuS!)}`,
      `${mb(r.provisionPeakMb!)} / ${mb(r.ansiblePeakMb!)}`,
      f1(r.load1!),
    ].join(' | '),
  );
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...lines.map((l) => `| ${l} |`)].join('\n');
}

async function main(): Promise<void> {
  if (tableOnly) {
    console.log(table(summarize((JSON.parse(await readFile(out, 'utf8')) as { samples: Sample[] }).samples)));
    return;
  }
  const ansibleVersion = ensureAnsible();
  const samples: Sample[] = [];
  if (keep) {
    const before = JSON.parse(await readFile(out, 'utf8').catch(() => '{"samples":[]}')) as { samples: Sample[] };
    samples.push(...before.samples.filter((s) => !sizes.includes(s.size) || !measures(s.phase)));
  }
  await mkdir(dirname(out), { recursive: true });
  const save = async () => {
    const result = {
      date: new Date().toISOString(),
      machine: machine(),
      command: `node ${process.argv.slice(1).join(' ')}`,
      settings: { forks, runs, ansible: ansibleVersion, ansibleConfig: await readFile(join(ANSIBLE_DIR, 'ansible.cfg'), 'utf8') },
      rows: summarize(samples),
      samples,
    };
    // Written after every run: a long bench cut short keeps what it measured.
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    return result.rows;
  };
  try {
    for (const size of sizes)
      for (let run = 1; run <= runs; run++) {
        samples.push(...(await measureRun(size, run)));
        await save();
      }
  } finally {
    await labDown(LAB).catch(() => {});
  }
  console.log(table(await save()));
  console.log(
    `\nmedians of ${runs} runs, forks ${forks}; seconds wall; check / floor = median of each check over the mean of the floors right before and after it; round trips = SSH session requests (exec/subsystem) each host's sshd logged; CPU = user+sys of the controller and its children; ${out}`,
  );
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
