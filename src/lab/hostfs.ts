// A container host's private files, written into its overlay upper dir before boot.
import { chmod, chown, lstat, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Creates `rel` (a directory path) inside `upper`, giving each created directory the
 * owner and mode it has in `lower`: overlayfs shows the upper dir's attributes for
 * merged dirs, and sshd's StrictModes rejects a wrongly owned home or .ssh.
 */
export async function mkdirLikeLower(lower: string, upper: string, rel: string): Promise<void> {
  let path = '';
  for (const part of rel.split('/').filter(Boolean)) {
    path = path ? `${path}/${part}` : part;
    const target = join(upper, path);
    try {
      await lstat(target);
      continue;
    } catch {
      /* create it below */
    }
    await mkdir(target);
    try {
      const st = await lstat(join(lower, path));
      await chown(target, st.uid, st.gid);
      await chmod(target, st.mode & 0o7777);
    } catch {
      await chmod(target, 0o755);
    }
  }
}

export interface HostFile {
  path: string;
  content: string;
  mode: number;
  uid?: number;
  gid?: number;
}

export async function writeUpperFiles(lower: string, upper: string, files: HostFile[]): Promise<void> {
  for (const f of files) {
    await mkdirLikeLower(lower, upper, dirname(f.path));
    const target = join(upper, f.path);
    await writeFile(target, f.content, { mode: f.mode });
    await chmod(target, f.mode); // writeFile's mode is filtered by the umask
    await chown(target, f.uid ?? 0, f.gid ?? 0);
  }
}
