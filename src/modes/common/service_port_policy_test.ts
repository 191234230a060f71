/**
 * The service-port policy's list of reachable endpoints: the endpoints of the policy chains in use, by
 * address then port, each address once, whatever order the lists come in. (The chain decisions are
 * checked through both modes' packet-flow tables and golden files.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointAt, servicePortState } from '../../model/testing/fixtures.ts';
import type { Endpoint } from '../../model/types.ts';
import { servicePortPolicy } from './service_port_policy.ts';

function at(address: string, nodeName = 'node-b'): Endpoint {
  return endpointAt(address, { nodeName });
}

function reachable(clusterEndpoints: Endpoint[], localEndpoints: Endpoint[], nodePort = 30080): string[] {
  const policy = servicePortPolicy(
    servicePortState({
      clusterIPs: ['172.30.0.41'],
      nodePort,
      externalTrafficPolicy: 'Local',
      allEndpoints: [...clusterEndpoints, ...localEndpoints],
      clusterEndpoints,
      localEndpoints,
    }),
  );
  return (policy?.reachableEndpoints ?? []).map((e) => `${e.ip}:${e.port}@${e.nodeName}`);
}

describe('servicePortPolicy reachableEndpoints', () => {
  it('merges the cluster and local lists by address then port (numerically), each address once', () => {
    assert.deepEqual(
      reachable(
        [at('10.180.0.2:80'), at('10.180.0.10:80'), at('10.180.0.10:81')],
        [at('10.180.0.3:80', 'node-a'), at('10.180.0.10:80', 'node-a')],
      ),
      ['10.180.0.2:80@node-b', '10.180.0.3:80@node-a', '10.180.0.10:80@node-a', '10.180.0.10:81@node-b'],
    );
  });

  it('orders lists that come unsorted or with repeats, the later endpoint at an address winning', () => {
    assert.deepEqual(
      reachable([at('10.180.0.10:80'), at('10.180.0.2:80', 'node-c'), at('10.180.0.2:80')], []),
      ['10.180.0.2:80@node-b', '10.180.0.10:80@node-b'],
    );
  });

  it('leaves out the endpoints of a policy chain not in use', () => {
    // Without a node port the Local external policy has nothing to serve: only the cluster chain is used.
    assert.deepEqual(reachable([at('10.180.0.2:80')], [at('10.180.0.3:80', 'node-a')], 0), [
      '10.180.0.2:80@node-b',
    ]);
  });
});
