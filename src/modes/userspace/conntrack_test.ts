import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { staleUdpConntrack } from './conntrack.ts';
import { planUserspace, type UserspaceHost } from './plan.ts';
import { udpDnsPort as dns, planOptions, proxyState, servicePort } from './testing/fixtures.ts';

// Addresses: VIPs 10.96.0.0/16, external IPs 198.18.50.0/24, endpoints 10.1.0.0/16.
const web = servicePort({ serviceName: 'web', clusterIPs: ['10.96.0.80'], endpoints: ['10.1.0.1:80'] });
const options = planOptions();
const portals: UserspaceHost = { portals: true, localAddresses: [], proxyPorts: 'runtime' };
const plan = (ports: Parameters<typeof proxyState>[0], host = portals) =>
  planUserspace(proxyState(ports), options, host);

describe('staleUdpConntrack', () => {
  it('deletes nothing on the first sync, nor while the UDP sockets stay', () => {
    assert.deepEqual(staleUdpConntrack(undefined, plan([dns, web])), []);
    assert.deepEqual(staleUdpConntrack(plan([dns, web]), plan([dns])), []);
  });

  it('deletes the entries to every VIP and the node port of a removed UDP service, IPs first, each sorted', () => {
    assert.deepEqual(staleUdpConntrack(plan([dns, web]), plan([web])), [
      { kind: 'serviceIP', ip: '10.96.0.53' },
      { kind: 'serviceIP', ip: '198.18.50.53' },
      { kind: 'nodePort', port: 30053 },
    ]);
  });

  it('deletes the entries of a UDP listener that goes while its service stays', () => {
    const internalOnly = servicePort({ ...dns, type: 'ClusterIP', externalIPs: [], nodePort: 0 });
    assert.deepEqual(staleUdpConntrack(plan([dns]), plan([internalOnly])), [
      { kind: 'serviceIP', ip: '198.18.50.53' },
      { kind: 'nodePort', port: 30053 },
    ]);
  });

  it('deletes nothing for TCP services, nor without portal rules (no REDIRECT, no stale flow)', () => {
    const tcp = servicePort({ ...dns, serviceName: 'tcp', protocol: 'TCP' });
    assert.deepEqual(staleUdpConntrack(plan([tcp]), plan([])), []);
    const direct = { portals: false, localAddresses: ['10.96.0.53'] };
    assert.deepEqual(staleUdpConntrack(plan([dns], direct), plan([], direct)), []);
  });
});
