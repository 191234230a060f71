// Stale UDP conntrack in the ipvs mode: the plan as the shared cleanup reads it, and the Proxier deleting
// what a sync leaves stale, through the recording conntrack fake (on the strict fake host).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { FakeConntrack } from '../../kernel/testing/conntrack_fake.ts';
import { createFakeIpvsHost } from '../../kernel/testing/ipvs_fake_host.ts';
import { planOptions } from '../../model/testing/fixtures.ts';
import { FakeClock } from '../../runner/clock.ts';
import { planIpvs } from './plan.ts';
import { createIpvsProxier } from './proxier.ts';
import { changeOf, endpoints, proxierDeps, service, stateOf } from './testing/fixtures.ts';
import { ipvsUdpPlan } from './udp_conntrack.ts';

const NODE_IPS = ['198.18.0.100', '198.18.0.101'];
const dns = service('dns', {
  type: 'NodePort',
  clusterIPs: ['198.18.0.53'],
  externalIPs: ['198.18.0.153'],
  ports: [{ name: 'p', protocol: 'UDP', port: 53, targetPort: 5353, nodePort: 30053 }],
});
const web = service('web');

function setup(conntrack = new FakeConntrack()) {
  const host = createFakeIpvsHost();
  host.netlink.addInterface('eth0', NODE_IPS);
  const records: { msg: string }[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => records.push(JSON.parse(line)) });
  const deps = { ...proxierDeps(host.exec, planOptions({ nodeIPs: NODE_IPS })), logger };
  const proxier = createIpvsProxier(deps, { clock: new FakeClock(0), seams: { conntrack } });
  const sync = (state: ReturnType<typeof stateOf>) => proxier.sync(state, changeOf(state));
  return { conntrack, sync, records };
}

describe('ipvs UDP conntrack', () => {
  it('reads a plan per UDP service port: service IPs, the node port (once for all node IPs), real servers', () => {
    const state = stateOf([
      [dns, endpoints(dns, ['198.19.1.2', '198.19.1.1'])],
      [web, endpoints(web, ['198.19.1.3'])],
    ]);
    const udp = ipvsUdpPlan(planIpvs(state, planOptions({ nodeIPs: NODE_IPS })));
    assert.deepEqual(
      [...udp.servicePorts].map(([key, sp]) => [key, sp.udp]),
      [
        [
          'default/dns:p/UDP',
          {
            serviceIPs: ['198.18.0.53', '198.18.0.153'],
            nodePort: 30053,
            endpointIPs: ['198.19.1.1', '198.19.1.2'],
          },
        ],
      ],
    );
  });

  it('deletes nothing on the first sync, and nothing when nothing changed', async () => {
    const { conntrack, sync } = setup();
    const state = stateOf([[dns, endpoints(dns, ['198.19.1.1'])]]);
    await sync(state);
    await sync(state);
    assert.deepEqual(conntrack.calls, []);
  });

  it('deletes the entries DNATed to a removed endpoint, through every service IP and the node port', async () => {
    const { conntrack, sync } = setup();
    await sync(stateOf([[dns, endpoints(dns, ['198.19.1.1', '198.19.1.2'])]]));
    await sync(stateOf([[dns, endpoints(dns, ['198.19.1.1'])]], 2));
    assert.deepEqual(conntrack.calls, [
      'service-nat 198.18.0.53 198.19.1.2',
      'service-nat 198.18.0.153 198.19.1.2',
      'node-port-nat 30053 198.19.1.2',
    ]);
  });

  it('deletes the entries to the addresses of a service port that gets its first endpoint', async () => {
    const { conntrack, sync } = setup();
    await sync(stateOf([[dns]]));
    await sync(stateOf([[dns, endpoints(dns, ['198.19.1.1'])]], 2));
    assert.deepEqual(conntrack.calls, [
      'service-ip 198.18.0.53',
      'service-ip 198.18.0.153',
      'node-port 30053',
    ]);
  });

  it('deletes the entries to the service IPs of a service port that went away; TCP needs nothing', async () => {
    const { conntrack, sync } = setup();
    await sync(
      stateOf([
        [dns, endpoints(dns, ['198.19.1.1'])],
        [web, endpoints(web, ['198.19.1.3'])],
      ]),
    );
    await sync(stateOf([[web]], 2));
    assert.deepEqual(conntrack.calls, [
      'service-nat 198.18.0.53 198.19.1.1',
      'service-nat 198.18.0.153 198.19.1.1',
      'node-port-nat 30053 198.19.1.1',
      'service-ip 198.18.0.53',
      'service-ip 198.18.0.153',
    ]);
  });

  it('logs a deletion that fails and still succeeds the sync (the rules are in place)', async () => {
    const conntrack = new FakeConntrack();
    const { sync, records } = setup(conntrack);
    await sync(stateOf([[dns, endpoints(dns, ['198.19.1.1', '198.19.1.2'])]]));
    conntrack.failWith = new Error('conntrack: operation failed');
    const report = await sync(stateOf([[dns, endpoints(dns, ['198.19.1.1'])]], 2));
    assert.equal(report.kind, 'partial');
    assert.equal(conntrack.calls.length, 3);
    assert.equal(records.filter((r) => r.msg === 'Failed to delete stale UDP conntrack entries').length, 3);
  });
});
