/**
 * Packet-flow table for the ipvs mode's IPv6 family, through `kproxy trace`'s entry point (traceFamily
 * picks the plan of the destination's family), on testing/fixtures.ts's dualStackFixture: VIPs
 * 2001:2:0:f::x, node 2001:2::100, pods 2001:2:0:1::x (2001:2:0:1::11 on this node), clients
 * 2001:2:0:c0::x (inside the LB source range) and 2001:2:0:c1::x.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TracePacket, TraceVerdict } from '../../contracts/trace.ts';
import { traceFamily } from '../dual_stack.ts';
import { ipvsMode } from './index.ts';
import { dualStackFixture } from './testing/fixtures.ts';

const { state, options } = dualStackFixture();

interface Row {
  readonly name: string;
  readonly packet: Omit<TracePacket, 'protocol'> & { protocol?: TracePacket['protocol'] };
  readonly verdict: TraceVerdict;
  readonly backends?: readonly string[];
  readonly masquerade?: boolean;
  /** A line of the path that must be there. */
  readonly path?: RegExp;
}

const client = '2001:2:0:c1::2';
const rows: readonly Row[] = [
  {
    name: 'dual-stack ClusterIP, IPv6 VIP: both IPv6 endpoints, printed [addr]:port',
    packet: { source: client, destination: '2001:2:0:f::10', port: 80 },
    verdict: 'DNAT',
    backends: ['[2001:2:0:1::1]:8080', '[2001:2:0:1::2]:8080'],
    masquerade: true,
  },
  {
    name: 'the same Service, IPv4 VIP: the IPv4 endpoints',
    packet: { source: '198.18.5.2', destination: '198.18.0.10', port: 80 },
    verdict: 'DNAT',
    backends: ['198.19.1.1:8080', '198.19.1.2:8080'],
  },
  {
    name: 'from a pod (in the IPv6 cluster CIDR): no masquerade',
    packet: { source: '2001:2:0:1::9', destination: '2001:2:0:f::10', port: 80 },
    verdict: 'DNAT',
    masquerade: false,
  },
  {
    name: 'IPv6-only ClientIP Service: persistent',
    packet: { source: client, destination: '2001:2:0:f::11', port: 80 },
    verdict: 'DNAT',
    backends: ['[2001:2:0:1::1]:8080', '[2001:2:0:1::2]:8080', '[2001:2:0:1::3]:8080'],
    path: /^persistent 60 s \(ClientIP affinity\)/,
  },
  {
    name: 'IPv6 Service without endpoints: rejected (ICMPv6)',
    packet: { source: client, destination: '2001:2:0:f::12', port: 80 },
    verdict: 'REJECT',
    path: /ICMPv6 unreachable/,
  },
  {
    name: 'an IPv6 VIP on a port no Service serves: KUBE-IPVS-FILTER rejects',
    packet: { source: client, destination: '2001:2:0:f::10', port: 81 },
    verdict: 'REJECT',
    path: /in KUBE-6-IPVS-IPS/,
  },
  {
    name: "NodePort on the node's IPv6 address, Local policy: the local endpoint, source kept",
    packet: { source: client, destination: '2001:2::100', port: 30080 },
    verdict: 'DNAT',
    backends: ['[2001:2:0:1::11]:8080'],
    masquerade: false,
  },
  {
    name: 'hairpin: the local IPv6 endpoint reaches itself through the VIP, masqueraded by KUBE-6-LOOP-BACK',
    packet: { source: '2001:2:0:1::11', destination: '2001:2:0:f::13', port: 80 },
    verdict: 'DNAT',
    path: /hairpin to \[2001:2:0:1::11\]:8080 \(in KUBE-6-LOOP-BACK\) -> MASQUERADE/,
  },
  {
    name: 'IPv6 load balancer: a source in the range gets through',
    packet: { source: '2001:2:0:c0::2', destination: '2001:2:0:f::200', port: 443 },
    verdict: 'DNAT',
    backends: ['[2001:2:0:1::3]:8443'],
  },
  {
    name: 'IPv6 external IP: masqueraded',
    packet: { source: client, destination: '2001:2:0:f::201', port: 443 },
    verdict: 'DNAT',
    masquerade: true,
  },
  {
    name: 'an IPv4-only Service has no IPv6 virtual server',
    packet: { source: client, destination: '2001:2:0:f::20', port: 80 },
    verdict: 'NONE',
  },
];

describe('ipvs trace, IPv6', () => {
  for (const row of rows) {
    it(row.name, () => {
      const result = traceFamily(ipvsMode, state, options, { protocol: 'TCP', ...row.packet });
      assert.equal(result.verdict, row.verdict, result.path.join('\n'));
      if (row.backends !== undefined)
        assert.deepEqual(
          result.backends.map((b) => b.address),
          row.backends,
        );
      if (row.masquerade !== undefined)
        assert.equal(result.masquerade, row.masquerade, result.path.join('\n'));
      if (row.path !== undefined)
        assert.ok(
          result.path.some((line) => row.path!.test(line)),
          result.path.join('\n'),
        );
    });
  }

  it('refuses a packet of the other family than the plan', () => {
    const result = ipvsMode.trace(state, options, {
      protocol: 'TCP',
      source: client,
      destination: '2001:2:0:f::10',
      port: 80,
    });
    assert.equal(result.verdict, 'NONE');
    assert.match(result.path[0] ?? '', /is not IPv4/);
  });
});
