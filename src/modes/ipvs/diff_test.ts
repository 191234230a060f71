/**
 * The pure diffs of the ipvs mode: two plans (which virtual servers a partial sync looks at, which
 * service ports a sync wrote) and a plan against a listed table.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ListedVirtualServer } from '../../kernel/ipvs.ts';
import { planOptions } from '../../model/testing/fixtures.ts';
import { changedServicePorts, changedVirtualServers, diffIpvs } from './diff.ts';
import { planIpvs } from './plan.ts';
import { endpoints, service, stateOf } from './testing/fixtures.ts';

const web = service('web');
const dns = service('dns', {
  clusterIPs: ['198.18.0.53'],
  ports: [{ name: 'p', protocol: 'UDP', port: 53, targetPort: 5353, nodePort: 0 }],
});
const plan = (...entries: Parameters<typeof stateOf>[0]) => planIpvs(stateOf(entries), planOptions());

describe('changedVirtualServers', () => {
  it('names nothing when the plans program the same', () => {
    const a = plan([web, endpoints(web, ['198.19.1.1'])]);
    const b = plan([web, endpoints(web, ['198.19.1.1'])]);
    assert.deepEqual([...changedVirtualServers(a, b).keys()], []);
  });

  it('names added, edited and removed virtual servers: the new plan in its order, then the removed', () => {
    const before = plan([web, endpoints(web, ['198.19.1.1'])], [dns, endpoints(dns, ['198.19.1.5'])]);
    const sticky = service('sticky', { clusterIPs: ['198.18.0.20'] });
    const after = plan([web, endpoints(web, ['198.19.1.2'])], [sticky]);
    const changed = changedVirtualServers(before, after);
    assert.deepEqual([...changed.keys()], ['TCP/198.18.0.10:80', 'TCP/198.18.0.20:80', 'UDP/198.18.0.53:53']);
    assert.deepEqual(changed.get('UDP/198.18.0.53:53'), before.virtualServers[1]);
  });
});

describe('changedServicePorts', () => {
  it('finds the service port of a virtual server in the new plan, and of a removed one in the old', () => {
    const before = plan([web, endpoints(web, ['198.19.1.1'])], [dns, endpoints(dns, ['198.19.1.5'])]);
    const after = plan([web, endpoints(web, ['198.19.1.2'])]);
    const keys = changedVirtualServers(before, after).keys();
    assert.deepEqual([...changedServicePorts(keys, before, after)].sort(), [
      'default/dns:p/UDP',
      'default/web:p/TCP',
    ]);
    assert.deepEqual([...changedServicePorts(['TCP/198.18.0.99:80'], undefined, after)], []);
  });
});

describe('diffIpvs', () => {
  it('drains a removed TCP real server with connections, and deletes a virtual server no longer planned', () => {
    const desired = plan([web, endpoints(web, ['198.19.1.1'])]).virtualServers;
    const listed: ListedVirtualServer[] = [
      {
        protocol: 'TCP',
        address: '198.18.0.10',
        port: 80,
        scheduler: 'rr',
        flags: [],
        persistentTimeout: undefined,
        realServers: [
          {
            address: '198.19.1.1',
            port: 8080,
            weight: 1,
            forward: 'Masq',
            activeConnections: 0,
            inactiveConnections: 0,
          },
          {
            address: '198.19.1.9',
            port: 8080,
            weight: 1,
            forward: 'Masq',
            activeConnections: 2,
            inactiveConnections: 0,
          },
        ],
      },
      {
        protocol: 'UDP',
        address: '198.18.0.53',
        port: 53,
        scheduler: 'rr',
        flags: [],
        persistentTimeout: undefined,
        realServers: [],
      },
    ];
    const diff = diffIpvs(desired, listed, () => false);
    assert.deepEqual(diff.commands, [
      {
        op: 'edit-server',
        service: { protocol: 'TCP', address: '198.18.0.10', port: 80 },
        server: { address: '198.19.1.9', port: 8080, weight: 0 },
      },
      { op: 'delete-service', service: { protocol: 'UDP', address: '198.18.0.53', port: 53 } },
    ]);
    assert.equal(diff.drain.length, 1);
    assert.deepEqual([...diff.changedServers], ['TCP/198.18.0.10:80', 'UDP/198.18.0.53:53']);
  });
});
