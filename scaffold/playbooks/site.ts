// Our cluster: provision's LVS playbooks (director, real servers, mon or keepalived, the IPVS
// table), then our own tasks. `npx provision up inventory/<file>.yaml` runs this file as it is
// (no build step); `npm run typecheck` checks its types.
import { template, type Playbook } from 'provision';
import { lvsPreflight, lvsSite } from 'provision/lvs';

const playbook: Playbook = {
  name: 'site',
  description: 'our LVS cluster, plus what our team adds to every host',
  plays: [
    ...lvsSite(),
    {
      name: 'team: every host says who runs it',
      hosts: 'all',
      tasks: (ctx) => [
        // templates/team/motd.hbs is ours: a playbook's templates/ is searched before provision's own.
        template({
          name: 'login banner', path: '/etc/motd', template: 'team/motd.hbs', mode: '0644',
          data: { team: String(ctx.vars.team ?? 'the ops team'), os: ctx.facts.os.id },
        }),
      ],
    },
  ],
  // Checked before any host is contacted: an inventory without an lvs section is refused (exit 2).
  preflight: lvsPreflight,
};

export default playbook;
