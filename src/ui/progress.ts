// Progress while a run goes: listr2 with a row per host on a TTY; plain lines otherwise
// (CI logs get no ANSI noise). Both consume the same run events. listr2 is loaded only for a TTY:
// a run whose output goes to a file or a pipe does not pay for its import (~40 ms).
import type { ListrTaskWrapper } from 'listr2';
import type { RunEvent } from '../core/run.js';
import type { HostReport } from '../core/types.js';
import { recapLine } from './report.js';

export interface Progress {
  onEvent(e: RunEvent): void;
  done(): Promise<void>;
}

export interface ProgressOptions {
  tty: boolean;
  verbose: boolean;
  write(line: string): void;
}

export async function createProgress(hosts: string[], o: ProgressOptions): Promise<Progress> {
  return o.tty && !o.verbose ? listrProgress(hosts, (await import('listr2')).Listr) : plainProgress(o);
}

function plainProgress(o: ProgressOptions): Progress {
  return {
    onEvent(e) {
      switch (e.type) {
        case 'task-end': {
          const r = e.report;
          o.write(`${e.host} | ${r.status.padEnd(7)} | ${r.task}${r.error ? ` | ${r.error}` : ''}`);
          break;
        }
        case 'command':
          if (o.verbose) o.write(`${e.host} $ ${e.display.split('\n').join('\n    ')}`);
          break;
        case 'host-end':
          o.write(`${e.host} | done    | ${recapLine(e.report)}`);
          break;
        default:
      }
    },
    async done() {},
  };
}

interface Row {
  wrapper?: ListrTaskWrapper<unknown, any, any>;
  output: string;
  report?: HostReport;
  finish?: () => void;
}

function listrProgress(hosts: string[], Listr: typeof import('listr2').Listr): Progress {
  const rows = new Map<string, Row>(hosts.map((h) => [h, { output: 'queued' }]));
  const settle = (h: string, row: Row) => {
    if (!row.wrapper || !row.report) return;
    row.wrapper.title = `${h}: ${recapLine(row.report)}`;
    row.finish?.();
  };
  const list = new Listr(
    hosts.map((h) => ({
      title: h,
      task: (_ctx: unknown, wrapper: ListrTaskWrapper<unknown, any, any>) =>
        new Promise<void>((resolve, reject) => {
          const row = rows.get(h)!;
          row.wrapper = wrapper;
          wrapper.output = row.output;
          row.finish = () => {
            const r = row.report!;
            if (r.error || r.recap.failed > 0) reject(new Error(`${h}: ${recapLine(r)}`));
            else resolve();
          };
          settle(h, row);
        }),
    })),
    { concurrent: true, exitOnError: false, rendererOptions: { collapseErrors: false } },
  );
  const running = list.run().catch(() => {});
  return {
    onEvent(e) {
      const row = rows.get(e.host);
      if (!row) return;
      if (e.type === 'phase') row.output = e.phase;
      else if (e.type === 'task-start') row.output = `[${e.index + 1}/${e.total}] ${e.task}`;
      else if (e.type === 'host-end') {
        row.report = e.report;
        settle(e.host, row);
        return;
      } else return;
      if (row.wrapper) row.wrapper.output = row.output;
    },
    async done() {
      await running;
    },
  };
}
