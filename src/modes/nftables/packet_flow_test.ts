/**
 * Packet-flow tables for the nftables mode (as upstream's runPacketFlowTests): the tables every kernel
 * mode shares (src/modes/common/testing/packet_flows.ts, with the deliberate differences of
 * testing/flow_differences.ts), then flows only this mode's design has an answer for. Addresses: see
 * src/modes/common/testing/fixtures.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BLOCKED_CLIENT,
  EXTERNAL_CLIENT,
  NODE_IP,
  POD_CLIENT,
  planOptions,
  proxyState,
  servicePort,
} from '../common/testing/fixtures.ts';
import {
  assertPacketFlow,
  flowPacket,
  PACKET_FLOWS,
  type PacketFlow,
} from '../common/testing/packet_flows.ts';
import { SCENARIOS } from '../common/testing/scenarios.ts';
import { NFTABLES_FLOW_DIFFERENCES, nftablesFlow } from './testing/flow_differences.ts';
import { traceNftablesState } from './trace.ts';

for (const table of PACKET_FLOWS) {
  const s = SCENARIOS.find((x) => x.name === table.scenario);
  assert.ok(s, table.scenario);
  describe(`nftables packet flows: ${table.scenario}`, () => {
    for (const shared of table.flows) {
      const f = nftablesFlow(table.scenario, shared);
      it(f.name, () => {
        assertPacketFlow(traceNftablesState(s.state, s.options, flowPacket(f)), f);
      });
    }
  });
}

describe('nftables flow differences', () => {
  it('each names a flow of the shared tables', () => {
    for (const d of NFTABLES_FLOW_DIFFERENCES) {
      const table = PACKET_FLOWS.find((t) => t.scenario === d.scenario);
      assert.ok(
        table?.flows.some((f) => f.name === d.flow),
        `${d.scenario}: ${d.flow}`,
      );
    }
  });
});

function runFlows(name: string, state: Parameters<typeof traceNftablesState>[0], flows: PacketFlow[]): void {
  describe(`nftables packet flows: ${name}`, () => {
    for (const f of flows) {
      it(f.name, () => {
        assertPacketFlow(traceNftablesState(state, planOptions(), flowPacket(f)), f);
      });
    }
  });
}

// Upstream's TestLoadBalancer: the firewall runs before DNAT, for pods and the node too.
runFlows(
  'loadBalancerSourceRanges seen from inside',
  proxyState([
    servicePort({
      type: 'LoadBalancer',
      nodePort: 30080,
      loadBalancerIPs: ['1.2.3.4', '5.6.7.8'],
      loadBalancerSourceRanges: ['192.168.0.0/24', '203.0.113.0/25'],
      endpoints: ['10.180.0.1:80'],
    }),
  ]),
  [
    {
      name: 'pod to LB IP, not in a source range',
      source: POD_CLIENT,
      destination: '1.2.3.4',
      port: 80,
      output: 'DROP',
      masq: false,
    },
    {
      name: 'blocked client to the second LB IP',
      source: BLOCKED_CLIENT,
      destination: '5.6.7.8',
      port: 80,
      output: 'DROP',
      masq: false,
    },
    {
      name: 'the node, SNATted to the LB IP by whatever made the LB IP local, is allowed',
      source: '1.2.3.4',
      destination: '1.2.3.4',
      port: 80,
      output: '10.180.0.1:80',
      masq: true,
    },
    {
      name: 'an allowed client to the second LB IP',
      source: EXTERNAL_CLIENT,
      destination: '5.6.7.8',
      port: 80,
      output: '10.180.0.1:80',
      masq: true,
    },
  ],
);

// A service without endpoints but with source ranges: blocked sources are dropped before they learn the
// service exists (the firewall does not wait for endpoints, as upstream's nftables mode).
runFlows(
  'source ranges without endpoints',
  proxyState([
    servicePort({
      type: 'LoadBalancer',
      nodePort: 30080,
      loadBalancerIPs: ['5.6.7.8'],
      loadBalancerSourceRanges: ['203.0.113.0/25'],
      endpoints: [],
    }),
  ]),
  [
    {
      name: 'blocked client is dropped',
      source: BLOCKED_CLIENT,
      destination: '5.6.7.8',
      port: 80,
      output: 'DROP',
      masq: false,
    },
    {
      name: 'allowed client is rejected',
      source: EXTERNAL_CLIENT,
      destination: '5.6.7.8',
      port: 80,
      output: 'REJECT',
      masq: false,
    },
    {
      name: 'the nodePort rejects',
      source: EXTERNAL_CLIENT,
      destination: NODE_IP,
      port: 30080,
      output: 'REJECT',
      masq: false,
    },
  ],
);

// Two services on one cluster IP: each port goes to its own service, an unused port is rejected.
runFlows(
  'ports of a cluster IP',
  proxyState([
    servicePort({ portName: 'http', port: 80, endpoints: ['10.180.0.1:80'] }),
    servicePort({
      serviceName: 'svc2',
      clusterIPs: ['172.30.0.42'],
      portName: 'dns',
      protocol: 'UDP',
      port: 53,
      endpoints: ['10.180.0.5:53'],
    }),
  ]),
  [
    {
      name: 'the service port',
      source: POD_CLIENT,
      destination: '172.30.0.41',
      port: 80,
      output: '10.180.0.1:80',
      masq: false,
    },
    {
      name: 'another port of the cluster IP is rejected',
      source: POD_CLIENT,
      destination: '172.30.0.41',
      port: 443,
      output: 'REJECT',
      masq: false,
    },
    {
      name: 'the node gets the same answer',
      source: NODE_IP,
      destination: '172.30.0.41',
      port: 443,
      output: 'REJECT',
      masq: false,
    },
    {
      name: 'UDP port, TCP packet: rejected',
      source: POD_CLIENT,
      destination: '172.30.0.42',
      port: 53,
      output: 'REJECT',
      masq: false,
    },
    {
      name: 'an address that is no cluster IP is not ours',
      source: POD_CLIENT,
      destination: '172.30.0.50',
      port: 80,
      output: '',
      masq: false,
    },
  ],
);

// Hairpin through hairpin-endpoints (postrouting, after DNAT): a local endpoint reaching itself is
// masqueraded, one reaching another endpoint is not; a remote endpoint only when this node's Local-policy
// external chain short-circuits its pod traffic into the Cluster-policy chain.
runFlows(
  'hairpin',
  proxyState([
    servicePort({ endpoints: [{ address: '10.180.0.1:80', local: true }] }),
    servicePort({
      serviceName: 'svc2',
      clusterIPs: ['172.30.0.42'],
      endpoints: [{ address: '10.180.0.1:80', local: true }, '10.180.0.2:80'],
    }),
    servicePort({
      serviceName: 'svc3',
      clusterIPs: ['172.30.0.43'],
      type: 'NodePort',
      nodePort: 30080,
      externalTrafficPolicy: 'Local',
      endpoints: ['10.180.0.3:80', { address: '10.180.0.4:80', local: true }],
    }),
  ]),
  [
    {
      name: 'a local endpoint reaching itself is masqueraded',
      source: '10.180.0.1',
      destination: '172.30.0.41',
      port: 80,
      output: '10.180.0.1:80',
      masq: true,
    },
    {
      name: 'a pod that is no endpoint is not',
      source: POD_CLIENT,
      destination: '172.30.0.41',
      port: 80,
      output: '10.180.0.1:80',
      masq: false,
    },
    {
      name: 'a remote pod reaching the NodePort, short-circuited to itself, is masqueraded',
      source: '10.180.0.3',
      destination: NODE_IP,
      port: 30080,
      output: '10.180.0.3:80, 10.180.0.4:80',
      masq: true,
    },
  ],
);

describe('nftables hairpin: only the pair of an endpoint with itself', () => {
  const state = proxyState([
    servicePort({ endpoints: [{ address: '10.180.0.1:80', local: true }, '10.180.0.2:80'] }),
  ]);
  it('a local endpoint sent to the other endpoint keeps its source', () => {
    const r = traceNftablesState(state, planOptions(), {
      source: '10.180.0.1',
      destination: '172.30.0.41',
      port: 80,
      protocol: 'TCP',
    });
    // Masqueraded on the path back to itself only: the path to 10.180.0.2 passes the return.
    assert.equal(r.masquerade, true);
    assert.ok(r.path.some((s) => s.includes('@hairpin-endpoints')));
    assert.ok(r.path.some((s) => s === 'masquerading: mark and 0x4000 == 0 return'));
  });
});
