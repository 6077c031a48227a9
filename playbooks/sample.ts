// The sample playbook: generic modules only, runnable on any Debian/EL host (the container
// lab included). It shows what every LVS playbook is made of, and the demo runs it.
import type { Playbook } from '../src/core/types.js';
import { directory, file, lineInFile, service, serviceRestart, sysctl, template } from '../src/modules/index.js';

const WEB_ROOT = '/srv/demo-web';

const playbook: Playbook = {
  name: 'sample',
  description: 'a directory, templated files, a config line, a sysctl, and a SysV/systemd service with a restart handler',
  plays: [
    {
      name: 'demo host',
      hosts: 'all',
      tasks: (ctx) => [
        directory({ name: 'web root', path: WEB_ROOT, mode: '0755', tags: ['web'] }),
        template({
          name: 'index page',
          path: `${WEB_ROOT}/index.html`,
          template: 'demo/index.html.hbs',
          mode: '0644',
          data: { host: ctx.host, facts: ctx.facts, greeting: String(ctx.vars.greeting ?? 'Hello') },
          notify: ['restart demo-web'],
          tags: ['web'],
        }),
        template({
          name: 'demo-web init script',
          path: '/etc/init.d/demo-web',
          template: 'demo/demo-web.init.hbs',
          mode: '0755',
          data: { port: Number(ctx.vars.demo_port ?? 8080), root: WEB_ROOT },
          notify: ['restart demo-web'],
          tags: ['web'],
        }),
        file({ name: 'motd', path: '/etc/motd', content: `This host (${ctx.host}) is managed by provision.\n`, mode: '0644' }),
        lineInFile({
          name: 'login banner in /etc/issue.net',
          path: '/etc/issue.net',
          line: `managed-by=provision host=${ctx.host}`,
          regexp: '^managed-by=',
          create: true,
        }),
        sysctl({ name: 'no ICMP redirects', key: 'net.ipv4.conf.all.send_redirects', value: '0', persistFile: '/etc/sysctl.d/90-provision-sample.conf' }),
        service({ name: 'demo-web', enabled: true, running: true, tags: ['web'] }),
      ],
      handlers: () => ({
        'restart demo-web': serviceRestart({ name: 'demo-web' }),
      }),
    },
  ],
};

export default playbook;
