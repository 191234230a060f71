/**
 * The UDP conntrack deletions of a sync, as a pure function of the plans before and after it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServicePortState } from '../../model/types.ts';
import { change, planOptions, proxyState, servicePort } from '../common/testing/fixtures.ts';
import { describeUdpConntrackDeletion, staleUdpConntrack } from './conntrack.ts';
import { type IptablesPlan, planIptables } from './plan.ts';
import { udpDnsPort as dns } from './testing/udp_service_ports.ts';

const web = servicePort({ serviceName: 'web', clusterIPs: ['172.30.0.41'], endpoints: ['10.180.0.1:80'] });

const plan = (...ports: ServicePortState[]): IptablesPlan => planIptables(proxyState(ports), planOptions());
const described = (before: IptablesPlan | undefined, after: IptablesPlan): string[] =>
  staleUdpConntrack(before, after).map(describeUdpConntrackDeletion);

describe('staleUdpConntrack', () => {
  it('deletes nothing before the first sync, nor when nothing changed', () => {
    const p = plan(dns(['10.180.0.5:53']));
    assert.deepEqual(staleUdpConntrack(undefined, p), []);
    assert.deepEqual(staleUdpConntrack(p, plan(dns(['10.180.0.5:53']))), []);
  });

  it('deletes entries DNATed to a removed endpoint, through the service IP and the node port', () => {
    assert.deepEqual(
      staleUdpConntrack(plan(dns(['10.180.0.5:53', '10.180.0.6:53'])), plan(dns(['10.180.0.5:53']))),
      [
        { kind: 'serviceIPEndpoint', ip: '172.30.0.10', endpointIP: '10.180.0.6' },
        { kind: 'nodePortEndpoint', port: 30053, endpointIP: '10.180.0.6' },
      ],
    );
  });

  it('deletes entries to the service IP and node port when the service port gets its first endpoint', () => {
    assert.deepEqual(described(plan(dns([])), plan(dns(['10.180.0.5:53']))), ['172.30.0.10', ':30053']);
  });

  it('deletes entries to a removed service port, and never names a TCP service', () => {
    assert.deepEqual(described(plan(dns(['10.180.0.5:53']), web), plan()), [
      '172.30.0.10 -> 10.180.0.5',
      ':30053 -> 10.180.0.5',
      '172.30.0.10',
    ]);
    assert.deepEqual(described(plan(web), plan()), []);
  });

  it('compares nothing for a service port whose rules a partial plan reused', () => {
    const before = plan(dns(['10.180.0.5:53']), web);
    const after = planIptables(proxyState([dns(['10.180.0.5:53']), web], 2), planOptions(), {
      previous: before,
      change: change([web.key]),
    });
    assert.equal(after.servicePorts.get(dns([]).key), before.servicePorts.get(dns([]).key));
    assert.deepEqual(staleUdpConntrack(before, after), []);
  });

  it('given the keys a partial plan changed, looks only at those and finds the same deletions', () => {
    const a = dns(['10.180.0.5:53', '10.180.0.6:53']);
    const b = servicePort({
      serviceName: 'b',
      protocol: 'UDP',
      clusterIPs: ['172.30.0.11'],
      endpoints: ['10.180.0.7:53'],
    });
    const before = plan(a, b, web);
    const a2 = dns(['10.180.0.5:53']);
    const after = planIptables(proxyState([a2, web], 2), planOptions(), {
      previous: before,
      change: change([a2.key], [b.key]),
    });
    const all = staleUdpConntrack(before, after);
    assert.deepEqual(all.map(describeUdpConntrackDeletion), [
      '172.30.0.10 -> 10.180.0.6',
      ':30053 -> 10.180.0.6',
      '172.30.0.11 -> 10.180.0.7',
      '172.30.0.11',
    ]);
    assert.deepEqual(staleUdpConntrack(before, after, [b.key, a2.key]), all);
    // A key outside the change is not looked at, even if (wrongly) its plan differed.
    assert.deepEqual(staleUdpConntrack(before, after, [web.key]), []);
  });
});
