// A real server's default route via the NAT director (or the floating gateway of two directors),
// with its undo: the route it replaced, so a rollback puts the old gateway back.
import type { PlannedChange, Task } from '../core/types.js';
import { SBIN_PATH, sh } from '../core/shell.js';
import { ModuleError } from './errors.js';
import { meta, type TaskMeta } from './util.js';

export interface DefaultRouteState {
  /** The gateway of the current default route; absent: no default route (or not via a gateway). */
  via?: string;
}

const IP_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function defaultRoute(o: TaskMeta & { via: string }): Task<DefaultRouteState> {
  if (!IP_RE.test(o.via)) throw new ModuleError('defaultRoute', `bad gateway ${JSON.stringify(o.via)}`);
  return {
    ...meta(`default route via ${o.via}`, o),
    module: 'defaultRoute',
    probe: () => ({
      script: sh`${SBIN_PATH}; ip -4 route show default | head -n 1`,
      inline: true,
      blank: '',
      parse: (out) => {
        const m = /^default via (\S+)/.exec(out.stdout.trim());
        return m ? { via: m[1]! } : {};
      },
    }),
    plan(s): PlannedChange[] {
      if (s.via === o.via) return [];
      return [
        {
          summary: `default route via ${o.via}${s.via ? ` (was via ${s.via})` : ''}`,
          reason: s.via ? `the default route goes via ${s.via}` : 'no default route',
          diff: `${s.via ? `-default via ${s.via}\n` : ''}+default via ${o.via}\n`,
          apply: [{ kind: 'exec', script: sh`${SBIN_PATH}; ip route replace default via ${o.via}` }],
          undo: [
            {
              kind: 'exec',
              script: s.via
                ? sh`${SBIN_PATH}; ip route replace default via ${s.via}`
                : sh`${SBIN_PATH}; ip -4 route show default | grep -q . && ip route del default || true`,
            },
          ],
          before: { via: s.via ?? null },
          after: { via: o.via },
        },
      ];
    },
  };
}
