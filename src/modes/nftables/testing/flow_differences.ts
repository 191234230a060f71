/**
 * Where the nftables mode answers a shared packet flow (src/modes/common/testing/packet_flows.ts)
 * differently from the iptables mode, on purpose, as upstream's two modes do. The nftables packet-flow
 * test expects these outputs instead of the shared ones, and the mode agreement test
 * (src/modes/mode_agreement_test.ts) allows exactly these differences and fails when one no longer holds.
 *
 * @module
 */
import type { PacketFlow } from '../../common/testing/packet_flows.ts';

/** One flow whose nftables output differs from the shared table's, and why. */
export interface FlowDifference {
  readonly scenario: string;
  /** The flow's name in the shared table. */
  readonly flow: string;
  /** The nftables mode's output (same notation as {@link PacketFlow.output}). */
  readonly output: string;
  /** The nftables mode's masquerade flag, when it differs from the shared flow's. */
  readonly masq?: boolean;
  readonly why: string;
}

const UNKNOWN_PORT =
  'cluster-ips-check rejects traffic to a cluster IP on a port or protocol no service uses (upstream nftables, 1.31+); iptables lets it through unanswered';

/** Every deliberate difference. */
export const NFTABLES_FLOW_DIFFERENCES: readonly FlowDifference[] = [
  { scenario: 'cluster-ip', flow: 'wrong port', output: 'REJECT', why: UNKNOWN_PORT },
  { scenario: 'cluster-ip', flow: 'wrong protocol', output: 'REJECT', why: UNKNOWN_PORT },
  { scenario: 'sctp', flow: 'TCP to the SCTP port', output: 'REJECT', why: UNKNOWN_PORT },
  {
    scenario: 'external-traffic-policy-local',
    flow: 'health check node port is accepted',
    output: '',
    why:
      "an nftables accept only ends kproxy's own base chain (another table may still drop the packet), so " +
      "upstream's nftables mode has no health-check ACCEPT rule; the health check server answers as before",
  },
  {
    scenario: 'cluster-ip',
    flow: 'hairpin: an endpoint reaching itself through the service is masqueraded',
    output: '10.180.0.1:80, 10.180.0.2:80, 10.180.0.3:80',
    masq: false,
    why:
      'hairpin-endpoints holds the endpoints whose own packets this node DNATs (local ones, and those a ' +
      "Local-policy external chain's pod short-circuit reaches); 10.180.0.2 is on another node, whose own " +
      'rules DNAT its cluster-IP traffic (iptables marks every endpoint in its KUBE-SEP chain)',
  },
];

/**
 * The difference for a flow, if there is one.
 *
 * @param scenario the scenario's name
 * @param flow the flow
 * @returns the difference, or undefined when the modes must agree on it
 * @example nftablesDifference('cluster-ip', flow)?.output // 'REJECT' for 'wrong port'
 */
export function nftablesDifference(scenario: string, flow: PacketFlow): FlowDifference | undefined {
  return NFTABLES_FLOW_DIFFERENCES.find((d) => d.scenario === scenario && d.flow === flow.name);
}

/**
 * A shared flow as the nftables mode must answer it.
 *
 * @param scenario the scenario's name
 * @param flow the shared flow
 * @returns the flow, with the nftables output where it differs
 * @example nftablesFlow('cluster-ip', flow).output
 */
export function nftablesFlow(scenario: string, flow: PacketFlow): PacketFlow {
  const d = nftablesDifference(scenario, flow);
  return d === undefined ? flow : { ...flow, output: d.output, masq: d.masq ?? flow.masq };
}
