// Times the container lab: cached image lookup, up, a real ssh to every host, and down,
// for 3 and for 50 hosts (override: node dist/bench/lab-scale.js 3 50 100). Not a test.
import { execFile } from 'node:child_process';
import pLimit from 'p-limit';
import { ensureImage } from '../src/lab/image.js';
import { labDown, labUp, type LabUpResult } from '../src/lab/index.js';

const LAB = 'bench-scale';

function sshHostname(lab: LabUpResult, address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'ssh',
      [
        '-F',
        '/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        `UserKnownHostsFile=${lab.knownHosts}`,
        '-o',
        'StrictHostKeyChecking=yes',
        '-i',
        lab.keyFile,
        `root@${address}`,
        'hostname',
      ],
      { timeout: 30_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`ssh ${address}: ${stderr || err.message}`)) : resolve(stdout.trim())),
    );
  });
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = Date.now();
  const v = await fn();
  return [v, Date.now() - t];
}

interface Row {
  hosts: number;
  image: number;
  up: number;
  boot: number;
  sshReady: number;
  sshAll: number;
  down: number;
}

async function measure(count: number): Promise<Row> {
  const [, image] = await timed(() => ensureImage());
  const [lab, up] = await timed(() => labUp({ name: LAB, hosts: count }));
  const limit = pLimit(16);
  const [names, sshAll] = await timed(() => Promise.all(lab.hosts.map((h) => limit(() => sshHostname(lab, h.address)))));
  const wrong = names.filter((n, i) => n !== lab.hosts[i]!.name);
  if (wrong.length > 0) throw new Error(`hosts answered with the wrong hostname: ${wrong.join(', ')}`);
  const [, down] = await timed(() => labDown(LAB));
  return { hosts: count, image, up, boot: lab.timings.boot ?? 0, sshReady: lab.timings.sshReady ?? 0, sshAll, down };
}

const counts = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const rows: Row[] = [];
try {
  for (const n of counts.length ? counts : [3, 50]) rows.push(await measure(n));
} finally {
  await labDown(LAB).catch(() => {});
}
const cols: (keyof Row)[] = ['hosts', 'image', 'up', 'boot', 'sshReady', 'sshAll', 'down'];
console.log(`| ${cols.join(' | ')} |  (ms; image = cached lookup, sshAll = ssh hostname to every host, 16 at once)`);
console.log(`|${cols.map(() => '---').join('|')}|`);
for (const r of rows) console.log(`| ${cols.map((c) => r[c]).join(' | ')} |`);
