/**
 * The packet-flow tables (as upstream's runPacketFlowTests in pkg/proxy/iptables and pkg/proxy/nftables):
 * for each scenario of scenarios.ts, packets with the expected backends (each equally likely), REJECT,
 * DROP, ACCEPT or nothing, and whether the packet is masqueraded. Data only, shared by every mode that
 * plans kernel rules, so that the modes are held to the same table. Addresses: see fixtures.ts.
 *
 * @module
 */
import assert from 'node:assert/strict';
import type { TracePacket, TraceResult } from '../../../contracts/trace.ts';
import type { Protocol } from '../../../model/types.ts';
import { BLOCKED_CLIENT, EXTERNAL_CLIENT, NODE_IP, OTHER_NODE_IP, POD_CLIENT } from './fixtures.ts';

/** One packet and what must become of it. */
export interface PacketFlow {
  readonly name: string;
  readonly source: string;
  readonly destination: string;
  readonly port: number;
  /** TCP when unset. */
  readonly protocol?: Protocol;
  /** The input interface (`--detect-local-mode` BridgeInterface / InterfaceNamePrefix); unknown when unset. */
  readonly inInterface?: string;
  /** Comma-separated backends, or REJECT / DROP / ACCEPT, or '' when nothing matches. */
  readonly output: string;
  readonly masq: boolean;
}

/** The flows of one scenario (by its name in scenarios.ts). */
export interface PacketFlowTable {
  readonly scenario: string;
  readonly flows: readonly PacketFlow[];
}

/**
 * The packet of a flow, for a mode's trace.
 *
 * @param f the flow
 * @returns its source, destination, port and protocol (TCP when unset)
 * @example mode.trace(state, options, flowPacket(flow))
 */
export function flowPacket(f: PacketFlow): TracePacket {
  return {
    source: f.source,
    destination: f.destination,
    port: f.port,
    protocol: f.protocol ?? 'TCP',
    ...(f.inInterface === undefined ? {} : { inInterface: f.inInterface }),
  };
}

/**
 * Asserts that a trace is what a flow expects: the verdict, the backends in order and equally likely, and
 * the masquerade flag. The trace's path is the assertion message, to show where the packet went.
 *
 * @param r the trace of the flow's packet
 * @param f the flow
 * @example assertPacketFlow(mode.trace(state, options, flowPacket(flow)), flow)
 */
export function assertPacketFlow(r: TraceResult, f: PacketFlow): void {
  const why = `\n${r.path.join('\n')}`;
  switch (f.output) {
    case 'REJECT':
    case 'DROP':
    case 'ACCEPT':
      assert.equal(r.verdict, f.output, why);
      assert.deepEqual(r.backends, [], why);
      break;
    case '':
      assert.equal(r.verdict, 'NONE', why);
      break;
    default: {
      const expected = f.output.split(', ');
      assert.equal(r.verdict, 'DNAT', why);
      assert.deepEqual(
        r.backends.map((b) => b.address),
        expected,
        why,
      );
      for (const b of r.backends) assert.ok(Math.abs(b.probability - 1 / expected.length) < 1e-6, why);
    }
  }
  assert.equal(r.masquerade, f.masq, `masquerade${why}`);
}

/** Every table, in scenario order. */
export const PACKET_FLOWS: readonly PacketFlowTable[] = [
  {
    scenario: 'cluster-ip',
    flows: [
      {
        name: 'pod to cluster IP: every endpoint, equally, no masquerade',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80, 10.180.0.3:80',
        masq: false,
      },
      {
        name: 'off-cluster source to cluster IP is masqueraded (--cluster-cidr)',
        source: EXTERNAL_CLIENT,
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80, 10.180.0.3:80',
        masq: true,
      },
      {
        name: 'node to cluster IP is masqueraded (source outside the cluster CIDR)',
        source: NODE_IP,
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80, 10.180.0.3:80',
        masq: true,
      },
      {
        name: 'hairpin: an endpoint reaching itself through the service is masqueraded',
        source: '10.180.0.2',
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80, 10.180.0.3:80',
        masq: true,
      },
      {
        name: 'wrong port',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 81,
        output: '',
        masq: false,
      },
      {
        name: 'wrong protocol',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 80,
        protocol: 'UDP',
        output: '',
        masq: false,
      },
    ],
  },

  {
    scenario: 'node-port',
    flows: [
      {
        name: 'external client to node IP:nodePort, masqueraded (Cluster policy)',
        source: EXTERNAL_CLIENT,
        destination: NODE_IP,
        port: 30080,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
      {
        name: 'pod to node IP:nodePort',
        source: POD_CLIENT,
        destination: NODE_IP,
        port: 30080,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
      {
        name: 'node to its own IP:nodePort',
        source: NODE_IP,
        destination: NODE_IP,
        port: 30080,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
      {
        name: 'no localhost NodePorts',
        source: '127.0.0.1',
        destination: '127.0.0.1',
        port: 30080,
        output: '',
        masq: false,
      },
      {
        name: 'nodePort on another node is not ours',
        source: EXTERNAL_CLIENT,
        destination: OTHER_NODE_IP,
        port: 30080,
        output: '',
        masq: false,
      },
    ],
  },

  {
    scenario: 'node-port-addresses',
    flows: [
      {
        name: 'node IP inside --nodeport-addresses',
        source: EXTERNAL_CLIENT,
        destination: NODE_IP,
        port: 30080,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
      {
        name: 'node IP outside --nodeport-addresses',
        source: EXTERNAL_CLIENT,
        destination: OTHER_NODE_IP,
        port: 30080,
        output: '',
        masq: false,
      },
    ],
  },

  {
    scenario: 'external-ips',
    flows: [
      {
        name: 'external client to external IP, masqueraded',
        source: EXTERNAL_CLIENT,
        destination: '192.168.99.11',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
      {
        name: 'pod to external IP',
        source: POD_CLIENT,
        destination: '192.168.99.11',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
    ],
  },

  {
    scenario: 'load-balancer-source-ranges',
    flows: [
      {
        name: 'allowed source to LB IP',
        source: EXTERNAL_CLIENT,
        destination: '5.6.7.8',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
      {
        name: 'disallowed source to LB IP is dropped',
        source: BLOCKED_CLIENT,
        destination: '5.6.7.8',
        port: 80,
        output: 'DROP',
        masq: false,
      },
      {
        name: 'the node itself (inside a source range) to LB IP',
        source: NODE_IP,
        destination: '5.6.7.8',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
      {
        name: 'LB source ranges do not apply to the nodePort',
        source: BLOCKED_CLIENT,
        destination: NODE_IP,
        port: 30080,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
    ],
  },

  {
    scenario: 'session-affinity',
    flows: [
      {
        name: 'first connection may reach any endpoint (no affinity entry yet)',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: false,
      },
    ],
  },

  {
    scenario: 'no-endpoints',
    flows: [
      {
        name: 'cluster IP rejects',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 80,
        output: 'REJECT',
        masq: false,
      },
      {
        name: 'external IP rejects',
        source: EXTERNAL_CLIENT,
        destination: '192.168.99.11',
        port: 80,
        output: 'REJECT',
        masq: false,
      },
      {
        name: 'LB IP rejects',
        source: EXTERNAL_CLIENT,
        destination: '1.2.3.4',
        port: 80,
        output: 'REJECT',
        masq: false,
      },
      {
        name: 'nodePort rejects',
        source: EXTERNAL_CLIENT,
        destination: NODE_IP,
        port: 30080,
        output: 'REJECT',
        masq: false,
      },
      {
        name: 'the node itself is rejected too',
        source: NODE_IP,
        destination: '172.30.0.41',
        port: 80,
        output: 'REJECT',
        masq: false,
      },
    ],
  },

  {
    scenario: 'terminating-fallback',
    flows: [
      {
        name: 'only the serving terminating endpoint is used',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80',
        masq: false,
      },
    ],
  },

  {
    scenario: 'external-traffic-policy-local',
    flows: [
      {
        name: 'external client to nodePort: local endpoint only, source kept',
        source: EXTERNAL_CLIENT,
        destination: NODE_IP,
        port: 30080,
        output: '10.180.0.1:80',
        masq: false,
      },
      {
        name: 'external client to LB IP: local endpoint only, source kept',
        source: EXTERNAL_CLIENT,
        destination: '1.2.3.4',
        port: 80,
        output: '10.180.0.1:80',
        masq: false,
      },
      {
        name: 'pod to external IP short-circuits to every endpoint',
        source: POD_CLIENT,
        destination: '192.168.99.22',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: false,
      },
      {
        name: 'node to external IP goes to every endpoint, masqueraded',
        source: NODE_IP,
        destination: '192.168.99.22',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
      {
        name: 'cluster IP still uses every endpoint',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: false,
      },
      {
        name: 'health check node port is accepted',
        source: EXTERNAL_CLIENT,
        destination: NODE_IP,
        port: 30000,
        output: 'ACCEPT',
        masq: false,
      },
      {
        name: 'no local endpoint: external traffic to the nodePort is dropped',
        source: EXTERNAL_CLIENT,
        destination: NODE_IP,
        port: 30081,
        output: 'DROP',
        masq: false,
      },
      {
        name: 'no local endpoint: a pod still reaches the service through the nodePort',
        source: POD_CLIENT,
        destination: NODE_IP,
        port: 30081,
        output: '10.180.0.3:80',
        masq: false,
      },
    ],
  },

  {
    scenario: 'internal-traffic-policy-local',
    flows: [
      {
        name: 'cluster IP reaches the local endpoint only',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80',
        masq: false,
      },
      {
        name: 'no local endpoint: dropped, not rejected',
        source: POD_CLIENT,
        destination: '172.30.0.42',
        port: 80,
        output: 'DROP',
        masq: false,
      },
    ],
  },

  {
    scenario: 'named-ports',
    flows: [
      {
        name: 'http port to its target port',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:8080',
        masq: false,
      },
      {
        name: 'metrics port to its target port',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 9090,
        output: '10.180.0.1:9100',
        masq: false,
      },
    ],
  },

  {
    scenario: 'multi-port',
    flows: [
      {
        name: 'port 443',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 443,
        output: '10.180.0.1:443, 10.180.0.2:443',
        masq: false,
      },
      {
        name: 'nodePort 30443',
        source: EXTERNAL_CLIENT,
        destination: NODE_IP,
        port: 30443,
        output: '10.180.0.1:443, 10.180.0.2:443',
        masq: true,
      },
    ],
  },

  {
    scenario: 'udp',
    flows: [
      {
        name: 'DNS over UDP',
        source: POD_CLIENT,
        destination: '172.30.0.10',
        port: 53,
        protocol: 'UDP',
        output: '10.180.0.5:53, 10.180.0.6:53',
        masq: false,
      },
      {
        name: 'DNS over TCP',
        source: POD_CLIENT,
        destination: '172.30.0.10',
        port: 53,
        output: '10.180.0.5:53, 10.180.0.6:53',
        masq: false,
      },
    ],
  },

  {
    scenario: 'sctp',
    flows: [
      {
        name: 'SCTP',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 3868,
        protocol: 'SCTP',
        output: '10.180.0.1:3868',
        masq: false,
      },
      {
        name: 'TCP to the SCTP port',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 3868,
        output: '',
        masq: false,
      },
    ],
  },

  {
    scenario: 'masquerade-all',
    flows: [
      {
        name: 'even pod traffic is masqueraded (mark bit 16)',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
    ],
  },

  {
    scenario: 'no-cluster-cidr',
    flows: [
      {
        name: 'without a cluster CIDR, off-cluster traffic to a cluster IP is not masqueraded',
        source: EXTERNAL_CLIENT,
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80',
        masq: false,
      },
      {
        name: 'external traffic to a Local nodePort keeps its source',
        source: EXTERNAL_CLIENT,
        destination: NODE_IP,
        port: 30080,
        output: '10.180.0.1:80',
        masq: false,
      },
    ],
  },
  {
    scenario: 'detect-local-bridge-interface',
    flows: [
      {
        name: 'local pod to cluster IP: source kept',
        source: POD_CLIENT,
        inInterface: 'cbr0',
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: false,
      },
      {
        name: 'other traffic to cluster IP: masqueraded',
        source: POD_CLIENT,
        inInterface: 'eth0',
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
      {
        name: 'local pod to external IP short-circuits to every endpoint',
        source: POD_CLIENT,
        inInterface: 'cbr0',
        destination: '192.168.99.22',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: false,
      },
      {
        name: 'other traffic to external IP: local endpoint only, source kept',
        source: POD_CLIENT,
        inInterface: 'eth0',
        destination: '192.168.99.22',
        port: 80,
        output: '10.180.0.1:80',
        masq: false,
      },
      {
        name: 'unknown input interface: taken as not local (the trace says so)',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
    ],
  },
  {
    scenario: 'detect-local-interface-name-prefix',
    flows: [
      {
        name: 'local pod to cluster IP: source kept',
        source: POD_CLIENT,
        inInterface: 'veth1a2b',
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: false,
      },
      {
        name: 'other traffic to cluster IP: masqueraded',
        source: POD_CLIENT,
        inInterface: 'eth0',
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
      {
        name: 'local pod to external IP short-circuits to every endpoint',
        source: POD_CLIENT,
        inInterface: 'veth1a2b',
        destination: '192.168.99.22',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: false,
      },
      {
        name: 'other traffic to external IP: local endpoint only, source kept',
        source: POD_CLIENT,
        inInterface: 'eth0',
        destination: '192.168.99.22',
        port: 80,
        output: '10.180.0.1:80',
        masq: false,
      },
    ],
  },
  {
    scenario: 'detect-local-node-cidr',
    flows: [
      {
        name: 'local pod to cluster IP: source kept',
        source: '10.180.1.5',
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: false,
      },
      {
        name: 'other traffic to cluster IP: masqueraded',
        source: POD_CLIENT,
        destination: '172.30.0.41',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: true,
      },
      {
        name: 'local pod to external IP short-circuits to every endpoint',
        source: '10.180.1.5',
        destination: '192.168.99.22',
        port: 80,
        output: '10.180.0.1:80, 10.180.0.2:80',
        masq: false,
      },
      {
        name: 'other traffic to external IP: local endpoint only, source kept',
        source: POD_CLIENT,
        destination: '192.168.99.22',
        port: 80,
        output: '10.180.0.1:80',
        masq: false,
      },
    ],
  },
];
