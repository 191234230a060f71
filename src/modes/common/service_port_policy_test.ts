/**
 * The service-port policy's list of reachable endpoints: the endpoints of the policy chains in use, by
 * address then port, each address once, whatever order the lists come in. (The chain decisions are
 * checked through both modes' packet-flow tables and golden files.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCidr } from '../../kernel/iptables_address.ts';
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

describe('servicePortPolicy by family', () => {
  const dualStack = servicePortState({
    clusterIPs: ['172.30.0.41', '2001:2:0:f:0:0:0:41'],
    ipFamilies: ['IPv4', 'IPv6'],
    externalIPs: ['198.18.5.1', '2001:2:0:5::1'],
    loadBalancerIPs: ['198.18.6.1', '2001:2:0:6::1'],
    loadBalancerSourceRanges: ['198.18.7.0/24', '2001:2:0:7::/64'],
    allEndpoints: [at('10.180.0.2:80'), at('[2001:2:0:c1::2]:80'), at('[2001:2:0:c1::10]:80')],
    clusterEndpoints: [at('10.180.0.2:80'), at('[2001:2:0:c1::2]:80'), at('[2001:2:0:c1::10]:80')],
    localEndpoints: [],
  });

  it('keeps the IPv4 addresses and endpoints only by default', () => {
    const p = servicePortPolicy(dualStack)!;
    assert.equal(p.family, 'IPv4');
    assert.equal(p.clusterIP, '172.30.0.41');
    assert.deepEqual(p.externalIPs, ['198.18.5.1']);
    assert.deepEqual(p.loadBalancerIPs, ['198.18.6.1']);
    assert.deepEqual(p.sourceRanges.map(formatCidr), ['198.18.7.0/24']);
    assert.deepEqual(
      p.reachableEndpoints.map((e) => e.ip),
      ['10.180.0.2'],
    );
  });

  it('keeps the IPv6 ones, canonical, for IPv6, endpoints in the tracker order (address text, then port)', () => {
    const p = servicePortPolicy(dualStack, 'IPv6')!;
    assert.equal(p.family, 'IPv6');
    assert.equal(p.clusterIP, '2001:2:0:f::41');
    assert.deepEqual(p.externalIPs, ['2001:2:0:5::1']);
    assert.deepEqual(p.loadBalancerIPs, ['2001:2:0:6::1']);
    assert.deepEqual(p.sourceRanges.map(formatCidr), ['2001:2:0:7::/64']);
    // The tracker sorts IPv6 addresses as text: '...::10' after '...::2' is out of order, so it is sorted.
    assert.deepEqual(
      p.reachableEndpoints.map((e) => e.ip),
      ['2001:2:0:c1::10', '2001:2:0:c1::2'],
    );
    assert.equal(p.allEndpoints.length, 2);
  });

  it('orders IPv6 endpoints at one address by port, and a prefix address before a longer one', () => {
    const list = [at('[2001:2::1]:81'), at('[2001:2::10]:80'), at('[2001:2::1]:80')];
    const p = servicePortPolicy(
      servicePortState({ clusterIPs: ['2001:2:0:f::41'], allEndpoints: list, clusterEndpoints: list }),
      'IPv6',
    )!;
    assert.deepEqual(
      p.reachableEndpoints.map((e) => `[${e.ip}]:${e.port}`),
      ['[2001:2::1]:80', '[2001:2::1]:81', '[2001:2::10]:80'],
    );
  });

  it('has nothing to program for a family the service lacks', () => {
    assert.equal(servicePortPolicy(servicePortState({ clusterIPs: ['172.30.0.41'] }), 'IPv6'), undefined);
    assert.equal(servicePortPolicy(servicePortState({ clusterIPs: ['2001:2:0:f::41'] }), 'IPv4'), undefined);
  });
});
