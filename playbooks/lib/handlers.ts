// Handlers shared by the LVS plays (a unit file written by a task needs a daemon-reload).
import type { Task } from '../../src/core/types.js';
import { command } from '../../src/modules/index.js';
import { sh } from '../../src/core/shell.js';

export const RELOAD_SYSTEMD = 'reload systemd';

export function reloadSystemd(): Record<string, Task> {
  return { [RELOAD_SYSTEMD]: command({ name: 'systemctl daemon-reload', cmd: sh`systemctl daemon-reload` }) };
}
