// The VM lab image: kernel, base initramfs and a squashfs root disk, cached under
// /var/cache/provision/vm/<sha256 of every input>/. Built in a temp dir and renamed
// into place under a lock, so readers never see half an image.
import { createHash } from 'node:crypto';
import { access, chmod, cp, mkdir, readFile, rename, rm, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../errors.js';
import { withLock } from '../lock.js';
import { run } from '../run.js';
import { GUEST_MODULES, INITRAMFS_MODULES, VM_CACHE_DIR, VM_IMAGE_VERSION, VM_PACKAGES, VM_SUITE } from './config.js';
import { cpioGz, type CpioEntry } from './cpio.js';
import { DISABLE_UNITS, ENABLE_UNITS, INITRAMFS_INIT, LAB_AGENT_SCRIPT, LAB_AGENT_UNIT, LAB_NETWORK_UNIT, MASK_UNITS, SSHD_LAB_CONF } from './guest.js';
import { fetchAndExtract, moduleClosure, parseModulesDep, pickKernelName, resolvePackages, type DebPackage } from './kernel.js';

export interface VmImage {
  key: string;
  dir: string;
  kernel: string;
  /** Base initramfs (gzip cpio); a VM's own data is appended as a second archive. */
  initrd: string;
  /** Read-only root disk. */
  rootfs: string;
  kernelVersion: string;
  built: boolean;
  durationMs: number;
}

export interface VmImageInputs {
  version: number;
  suite: string;
  packages: string[];
  kernel: DebPackage;
  busybox: DebPackage;
  guestModules: string[];
  initramfsModules: string[];
  /** Every guest program text, so editing one rebuilds. */
  texts: Record<string, string>;
}

// The essential hook runs before `mon` is installed: its preinst's adduser/chfn
// fails under mmdebstrap (PAM), but it leaves an existing user alone.
export const MON_USER_HOOK = `set -eu
R="$1"
grep -q '^mon:' "$R/etc/group" || echo 'mon:x:200:' >> "$R/etc/group"
grep -q '^mon:' "$R/etc/passwd" || echo 'mon:x:200:200:mon:/var/lib/mon:/usr/sbin/nologin' >> "$R/etc/passwd"
grep -q '^mon:' "$R/etc/shadow" || echo 'mon:*:19000:0:99999:7:::' >> "$R/etc/shadow"
`;

export async function resolveInputs(): Promise<VmImageInputs> {
  const [kernel, busybox] = await resolvePackages([await pickKernelName(), 'busybox-static']);
  return {
    version: VM_IMAGE_VERSION,
    suite: VM_SUITE,
    packages: [...VM_PACKAGES].sort(),
    kernel,
    busybox,
    guestModules: GUEST_MODULES,
    initramfsModules: INITRAMFS_MODULES,
    texts: {
      init: INITRAMFS_INIT,
      network: LAB_NETWORK_UNIT,
      agentUnit: LAB_AGENT_UNIT,
      agent: LAB_AGENT_SCRIPT,
      sshd: SSHD_LAB_CONF,
      monHook: MON_USER_HOOK,
      units: JSON.stringify([ENABLE_UNITS, DISABLE_UNITS, MASK_UNITS]),
    },
  };
}

export const vmImageKey = (inputs: VmImageInputs) => createHash('sha256').update(JSON.stringify(inputs)).digest('hex');

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

function imageAt(dir: string, key: string, kernelVersion: string, built: boolean, started: number): VmImage {
  return {
    key,
    dir,
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.cpio.gz'),
    rootfs: join(dir, 'rootfs.squashfs'),
    kernelVersion,
    built,
    durationMs: Date.now() - started,
  };
}

async function readDone(dir: string): Promise<{ kernelVersion: string } | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'done.json'), 'utf8'));
  } catch {
    return null;
  }
}

/** Returns the cached image for the current inputs, building it first when missing. */
export async function ensureVmImage(opts: { cacheDir?: string; log?: (line: string) => void } = {}): Promise<VmImage> {
  const started = Date.now();
  const cacheDir = opts.cacheDir ?? VM_CACHE_DIR;
  const inputs = await resolveInputs();
  const key = vmImageKey(inputs);
  const dir = join(cacheDir, key);
  const cached = await readDone(dir);
  if (cached) return imageAt(dir, key, cached.kernelVersion, false, started);

  return withLock(join(cacheDir, `${key}.lock`), async () => {
    const again = await readDone(dir);
    if (again) return imageAt(dir, key, again.kernelVersion, false, started);
    await rm(dir, { recursive: true, force: true });
    const tmp = join(cacheDir, `.${key}.tmp-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    try {
      const kernelVersion = await buildInto(tmp, inputs, opts.log ?? (() => {}));
      await writeFile(
        join(tmp, 'done.json'),
        JSON.stringify({ key, kernelVersion, inputs, builtAt: new Date().toISOString(), durationMs: Date.now() - started }, null, 2),
      );
      await rename(tmp, dir);
      return imageAt(dir, key, kernelVersion, true, started);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
  });
}

async function buildInto(tmp: string, inputs: VmImageInputs, log: (line: string) => void): Promise<string> {
  const debs = join(tmp, 'debs');
  const kdir = join(tmp, 'kernel');
  const bbdir = join(tmp, 'busybox');
  const rootfs = join(tmp, 'rootfs');
  await mkdir(debs);
  log(`vm image: fetching ${inputs.kernel.name} ${inputs.kernel.version} and busybox-static`);
  await fetchAndExtract(inputs.kernel, debs, kdir);
  await fetchAndExtract(inputs.busybox, debs, bbdir);
  const kernelVersion = (await readdir(join(kdir, 'lib/modules')))[0];
  if (!kernelVersion) throw new LabError(`${inputs.kernel.name} has no /lib/modules`, { path: kdir });

  log(`vm image: mmdebstrap ${inputs.packages.length} packages`);
  await run('mmdebstrap', mmdebstrapArgs(inputs, rootfs), { timeoutMs: 30 * 60_000 });
  await customizeRootfs(rootfs);

  log(`vm image: kernel modules for ${kernelVersion}`);
  const initramfsModules = await installModules(rootfs, kdir, kernelVersion, inputs);

  log('vm image: mksquashfs');
  // Not -all-root: the rootfs was built as root and has real non-root owners (shadow, mon) that must survive.
  await run('mksquashfs', [rootfs, join(tmp, 'rootfs.squashfs'), '-comp', 'lz4', '-noappend', '-quiet', '-no-progress'], { timeoutMs: 10 * 60_000 });
  await cp(join(kdir, 'boot', `vmlinuz-${kernelVersion}`), join(tmp, 'vmlinuz'));

  const entries: CpioEntry[] = [
    { path: 'init', type: 'file', mode: 0o755, data: INITRAMFS_INIT },
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: await readFile(join(bbdir, 'bin/busybox')) },
    { path: 'modules/load.order', type: 'file', mode: 0o644, data: initramfsModules.map((m) => m.name).join('\n') + '\n' },
  ];
  for (const m of initramfsModules) entries.push({ path: `modules/${m.name}.ko`, type: 'file', mode: 0o644, data: await readFile(m.file) });
  await writeFile(join(tmp, 'initrd.cpio.gz'), cpioGz(entries));

  await rm(rootfs, { recursive: true, force: true });
  await rm(kdir, { recursive: true, force: true });
  await rm(bbdir, { recursive: true, force: true });
  await rm(debs, { recursive: true, force: true });
  return kernelVersion;
}

export function mmdebstrapArgs(inputs: VmImageInputs, target: string): string[] {
  return [
    '--variant=minbase',
    '--mode=root',
    '--format=directory',
    `--include=${inputs.packages.join(',')}`,
    '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
    // dpkg fsyncs every file otherwise; a throwaway build tree does not need it.
    '--dpkgopt=force-unsafe-io',
    ...['man', 'doc', 'locale', 'info'].map((d) => `--dpkgopt=path-exclude=/usr/share/${d}/*`),
    `--essential-hook=${MON_USER_HOOK}`,
    inputs.suite,
    target,
  ];
}

async function customizeRootfs(rootfs: string): Promise<void> {
  const put = async (rel: string, text: string, mode: number) => {
    const p = join(rootfs, rel);
    await mkdir(join(p, '..'), { recursive: true });
    await writeFile(p, text);
    await chmod(p, mode);
  };
  await put('etc/ssh/sshd_config.d/lab.conf', SSHD_LAB_CONF, 0o644);
  await put('etc/systemd/system/lab-network.service', LAB_NETWORK_UNIT, 0o644);
  await put('etc/systemd/system/lab-agent.service', LAB_AGENT_UNIT, 0o644);
  await put('usr/local/sbin/lab-agent', LAB_AGENT_SCRIPT, 0o755);
  // Every VM gets its own host key and machine-id from its per-VM data; an empty
  // machine-id would make systemd treat each boot as a first boot (preset-all).
  for (const f of await readdir(join(rootfs, 'etc/ssh'))) if (f.startsWith('ssh_host_')) await rm(join(rootfs, 'etc/ssh', f));
  await writeFile(join(rootfs, 'etc/machine-id'), '');
  await run('chroot', [rootfs, 'usermod', '-p', '*', 'root']);
  await mkdir(join(rootfs, 'root/.ssh'), { recursive: true, mode: 0o700 });
  await run('chroot', [rootfs, 'systemctl', 'enable', ...ENABLE_UNITS]);
  await run('chroot', [rootfs, 'systemctl', 'disable', ...DISABLE_UNITS], { allowFail: true });
  await run('chroot', [rootfs, 'systemctl', 'mask', ...MASK_UNITS]);
  await rm(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
  await mkdir(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
  for (const f of await readdir(join(rootfs, 'var/lib/apt/lists')).catch(() => [] as string[])) {
    if (f !== 'partial' && f !== 'lock') await rm(join(rootfs, 'var/lib/apt/lists', f), { force: true });
  }
}

/**
 * Copies the closure of GUEST_MODULES into the rootfs and indexes it there with the
 * rootfs's own depmod (the controller may have no kmod). Returns the initramfs
 * modules in load order.
 */
async function installModules(rootfs: string, kdir: string, kver: string, inputs: VmImageInputs): Promise<{ name: string; file: string }[]> {
  const staging = join(rootfs, 'tmp/kmods');
  await cp(join(kdir, 'lib/modules', kver), join(staging, 'lib/modules', kver), { recursive: true });
  await run('chroot', [rootfs, 'depmod', '-b', '/tmp/kmods', kver]);
  const index = parseModulesDep(await readFile(join(staging, 'lib/modules', kver, 'modules.dep'), 'utf8'));

  const target = join(rootfs, 'lib/modules', kver);
  await rm(target, { recursive: true, force: true });
  await mkdir(target, { recursive: true });
  for (const name of moduleClosure(index, inputs.guestModules)) {
    const rel = index.get(name)!.path;
    await cp(join(staging, 'lib/modules', kver, rel), join(target, rel));
  }
  for (const f of ['modules.builtin', 'modules.builtin.modinfo', 'modules.order']) {
    if (await exists(join(staging, 'lib/modules', kver, f))) await cp(join(staging, 'lib/modules', kver, f), join(target, f));
  }
  await run('chroot', [rootfs, 'depmod', kver]);

  const initramfs = moduleClosure(index, inputs.initramfsModules).map((name) => ({
    name,
    file: join(target, index.get(name)!.path),
  }));
  await rm(staging, { recursive: true, force: true });
  return initramfs;
}
