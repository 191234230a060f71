import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpoint as modelEndpoint, proxyState, servicePortState } from '../model/testing/fixtures.ts';
import type { Endpoint, ProxyState, ServicePortState } from '../model/types.ts';
import { serviceHealthTargets } from './service_health_targets.ts';

function endpoint(ip: string, port: number, isLocal: boolean, ready = true): Endpoint {
  return modelEndpoint({ ip, port, ready, terminating: !ready, nodeName: isLocal ? 'n1' : 'n2', isLocal });
}

function servicePort(
  name: string,
  portName: string,
  overrides: Partial<ServicePortState> & { allEndpoints: readonly Endpoint[] },
): ServicePortState {
  return servicePortState({
    serviceName: name,
    portName,
    type: 'LoadBalancer',
    nodePort: 30080,
    externalTrafficPolicy: 'Local',
    healthCheckNodePort: 32000,
    ...overrides,
  });
}

function state(ports: readonly ServicePortState[]): ProxyState {
  return proxyState(ports, { nodeName: 'n1' });
}

describe('serviceHealthTargets', () => {
  it('counts ready local endpoints once per IP across the ports of a service', () => {
    const targets = serviceHealthTargets(
      state([
        servicePort('web', 'http', {
          allEndpoints: [endpoint('198.18.1.1', 8080, true), endpoint('198.18.1.2', 8080, true)],
        }),
        servicePort('web', 'https', {
          allEndpoints: [endpoint('198.18.1.1', 8443, true), endpoint('198.18.2.1', 8443, false)],
        }),
      ]),
    );
    assert.deepEqual(
      [...targets],
      [['default/web', { namespace: 'default', name: 'web', port: 32000, localEndpoints: 2 }]],
    );
  });

  it('counts a dual-stack pod once: the larger family, not the sum of both', () => {
    const targets = serviceHealthTargets(
      state([
        servicePort('web', 'http', {
          clusterIPs: ['198.18.100.1', '2001:2:0:f::1'],
          ipFamilies: ['IPv4', 'IPv6'],
          allEndpoints: [
            endpoint('198.18.1.1', 8080, true),
            endpoint('198.18.1.2', 8080, true),
            endpoint('2001:2:0:1::1', 8080, true),
            endpoint('2001:2:0:1::2', 8080, true),
            endpoint('2001:2:0:1::3', 8080, false),
          ],
        }),
        servicePort('six', 'http', {
          clusterIPs: ['2001:2:0:f::6'],
          ipFamilies: ['IPv6'],
          healthCheckNodePort: 32001,
          allEndpoints: [endpoint('2001:2:0:1::6', 8080, true)],
        }),
      ]),
    );
    assert.equal(targets.get('default/web')?.localEndpoints, 2);
    assert.equal(targets.get('default/six')?.localEndpoints, 1);
  });

  it('does not count terminating local endpoints (load balancers must drain the node)', () => {
    const targets = serviceHealthTargets(
      state([servicePort('web', 'http', { allEndpoints: [endpoint('198.18.1.1', 8080, true, false)] })]),
    );
    assert.equal(targets.get('default/web')?.localEndpoints, 0);
  });

  it('skips services without a health check node port or with externalTrafficPolicy Cluster', () => {
    const targets = serviceHealthTargets(
      state([
        servicePort('cluster', 'http', { externalTrafficPolicy: 'Cluster', allEndpoints: [] }),
        servicePort('nohc', 'http', { healthCheckNodePort: 0, allEndpoints: [] }),
        servicePort('local', 'http', { healthCheckNodePort: 32001, allEndpoints: [] }),
      ]),
    );
    assert.deepEqual([...targets.keys()], ['default/local']);
    assert.equal(targets.get('default/local')?.port, 32001);
  });
});
