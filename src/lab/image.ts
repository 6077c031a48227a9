// The shared, read-only Debian root filesystem every container host overlays.
// Built once by mmdebstrap and cached under a key derived from everything that
// shapes it, so a change to the package list or the customize script rebuilds.
import { createHash } from 'node:crypto';
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from './errors.js';
import { withLock } from './lock.js';
import { run } from './run.js';

/** Bump when the build recipe changes in a way the spec does not capture. */
export const IMAGE_VERSION = 1;

export const DEFAULT_CACHE_DIR = process.env.PROVISION_IMAGE_CACHE ?? '/var/cache/provision/images';

export interface ImageSpec {
  suite: string;
  packages: string[];
  /** mmdebstrap --customize-hook body; runs as `sh -c HOOK exec ROOTFS`, so "$1" is the rootfs. */
  customize: string;
  /** Debian mirror; mmdebstrap's default when absent. */
  mirror?: string;
  /** mmdebstrap --essential-hook body (before the included packages install). */
  essentialHook?: string;
}

export const LAB_PACKAGES = [
  'openssh-server',
  'iproute2',
  'procps',
  'kmod',
  'sudo',
  'busybox',
  'make',
  'gcc',
  'libc6-dev',
  'python3-minimal',
  'ipvsadm',
  'curl',
  'iputils-ping',
  // The LVS playbooks' health monitor, so lab hosts need no network to install it.
  'mon',
  'mon-client',
  'libtime-period-perl',
  'fping',
];

// mon's preinst runs adduser, whose chfn fails under PAM inside mmdebstrap: create the account first.
export const LAB_ESSENTIAL_HOOK = `set -eu
grep -q '^mon:' "$1/etc/group" || echo 'mon:x:901:' >> "$1/etc/group"
grep -q '^mon:' "$1/etc/passwd" || echo 'mon:x:901:901:mon:/var/lib/mon:/usr/sbin/nologin' >> "$1/etc/passwd"
`;

// Host keys and authorized_keys are not in the image: each host gets its own.
// Passwords are '*' (not '!'): with UsePAM no, sshd refuses keys for a locked ('!') account.
export const LAB_CUSTOMIZE = `set -eu
R="$1"
chroot "$R" useradd --create-home --uid 1000 --user-group --shell /bin/bash --home-dir /home/deploy deploy
chroot "$R" usermod -p '*' deploy
chroot "$R" usermod -p '*' root
install -d -m 0700 -o 1000 -g 1000 "$R/home/deploy/.ssh"
install -d -m 0700 "$R/root/.ssh"
printf 'deploy ALL=(ALL) NOPASSWD:ALL\\n' > "$R/etc/sudoers.d/deploy"
chmod 0440 "$R/etc/sudoers.d/deploy"
mkdir -p "$R/etc/ssh/sshd_config.d"
printf '%s\\n' 'PasswordAuthentication no' 'KbdInteractiveAuthentication no' 'UsePAM no' 'MaxSessions 20' 'MaxStartups 100:30:200' 'UseDNS no' > "$R/etc/ssh/sshd_config.d/lab.conf"
rm -f "$R"/etc/ssh/ssh_host_*
rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/*_Packages
`;

export const DEFAULT_IMAGE: ImageSpec = { suite: 'bookworm', packages: LAB_PACKAGES, customize: LAB_CUSTOMIZE, essentialHook: LAB_ESSENTIAL_HOOK };

/**
 * The bench's image (bench/vs-ansible): the lab image plus a full python3, which Ansible runs its
 * modules with, and sshd logging each session request, so round trips per host are counted on the
 * host for any client alike. Cached under its own key.
 */
export const PYTHON_IMAGE: ImageSpec = {
  ...DEFAULT_IMAGE,
  packages: [...LAB_PACKAGES, 'python3'],
  customize: `${LAB_CUSTOMIZE}printf '%s\\n' 'LogLevel DEBUG1' >> "$R/etc/ssh/sshd_config.d/lab.conf"\n`,
};

export interface Image {
  key: string;
  /** Directory usable as an overlay lowerdir. */
  rootfs: string;
  /** False when the cache already had it. */
  built: boolean;
  durationMs: number;
}

export function imageKey(spec: ImageSpec): string {
  const canonical = JSON.stringify({
    v: IMAGE_VERSION,
    suite: spec.suite,
    packages: [...spec.packages].sort(),
    customize: spec.customize,
    essentialHook: spec.essentialHook ?? null,
    mirror: spec.mirror ?? null,
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

export function mmdebstrapArgs(spec: ImageSpec, target: string): string[] {
  const args = [
    '--variant=minbase',
    '--mode=root',
    '--format=directory',
    `--include=${spec.packages.join(',')}`,
    '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
    ...['man', 'doc', 'locale', 'info'].map((d) => `--dpkgopt=path-exclude=/usr/share/${d}/*`),
    ...(spec.essentialHook ? [`--essential-hook=${spec.essentialHook}`] : []),
    `--customize-hook=${spec.customize}`,
    spec.suite,
    target,
  ];
  if (spec.mirror) args.push(spec.mirror);
  return args;
}

/** Returns the cached image for `spec`, building it first if needed (once, even across processes). */
export async function ensureImage(opts: { spec?: ImageSpec; cacheDir?: string; log?: (line: string) => void } = {}): Promise<Image> {
  const spec = opts.spec ?? DEFAULT_IMAGE;
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  const key = imageKey(spec);
  const dir = join(cacheDir, key);
  const rootfs = join(dir, 'rootfs');
  const started = Date.now();
  if (await exists(join(dir, 'done'))) return { key, rootfs, built: false, durationMs: Date.now() - started };

  return withLock(join(cacheDir, `${key}.lock`), async () => {
    // Another process may have finished it while we waited for the lock.
    if (await exists(join(dir, 'done'))) return { key, rootfs, built: false, durationMs: Date.now() - started };
    await rm(dir, { recursive: true, force: true }); // a crash between rename and marker
    const tmp = join(cacheDir, `.${key}.tmp-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    opts.log?.(`building image ${key} (${spec.suite}, ${spec.packages.length} packages)`);
    try {
      const res = await run('mmdebstrap', mmdebstrapArgs(spec, join(tmp, 'rootfs')), { timeoutMs: 20 * 60_000 });
      await writeFile(join(tmp, 'build.log'), res.stderr);
      for (const f of ['usr/sbin/sshd', 'usr/bin/sudo', 'etc/sudoers.d/deploy', 'etc/ssh/sshd_config.d/lab.conf']) {
        if (!(await exists(join(tmp, 'rootfs', f)))) throw new LabError(`image ${key} lacks ${f} after build`, { path: tmp });
      }
      await rename(tmp, dir);
      const durationMs = Date.now() - started;
      await writeFile(join(dir, 'done'), JSON.stringify({ key, spec, builtAt: new Date().toISOString(), durationMs }, null, 2));
      return { key, rootfs, built: true, durationMs };
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
  });
}
