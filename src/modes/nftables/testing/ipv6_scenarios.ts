/**
 * IPv6 and dual-stack scenarios of the nftables mode: the states behind its `ipv6-*` and `dual-stack`
 * golden files and its IPv6 packet flows. The IPv4 scenarios are the shared ones
 * (src/modes/common/testing/scenarios.ts); these mirror their features with IPv6 addresses.
 *
 * Test address ranges (IPv6, from the documentation and unique-local ranges, as upstream's IPv6 tests):
 * - cluster IPs fd00:172:30::/112, endpoints (pods) fd00:10:180::/64, cluster CIDR fd00:10::/32;
 * - node IP 2001:db8:168::2 (this node), another node's IP 2001:db8:168::3;
 * - external IPs 2001:db8:99::/64, load-balancer IP 2001:db8:5::8;
 * - an external client 2001:db8:113::2 (allowed source range 2001:db8:113::/64), a disallowed one
 *   2001:db8:114::200.
 *
 * @module
 */
import type { PlanOptions } from '../../../contracts/plan_options.ts';
import type { ProxyState } from '../../../model/types.ts';
import {
  CLUSTER_CIDR,
  NODE_IP,
  planOptions,
  proxyState,
  servicePort,
} from '../../common/testing/fixtures.ts';

export const NODE_IP6 = '2001:db8:168::2';
export const OTHER_NODE_IP6 = '2001:db8:168::3';
export const CLUSTER_CIDR6 = 'fd00:10::/32';
export const POD_CLIENT6 = 'fd00:10:1::2';
export const EXTERNAL_CLIENT6 = '2001:db8:113::2';
export const BLOCKED_CLIENT6 = '2001:db8:114::200';
export const EXTERNAL_IP6 = '2001:db8:99::11';
export const LB_IP6 = '2001:db8:5::8';

/** An IPv6 endpoint as the fixtures write it (`[addr]:port`). */
const ep = (host: number, port = 80): string => `[fd00:10:180::${host}]:${port}`;

/** One scenario of both families: a state and the options of both (the modes narrow them per family). */
export interface DualStackScenario {
  readonly name: string;
  readonly state: ProxyState;
  readonly options: PlanOptions;
}

/** Options of a dual-stack node: both node IPs and both cluster CIDRs. */
export function dualStackOptions(overrides: Partial<PlanOptions> = {}): PlanOptions {
  return planOptions({
    nodeIPs: [NODE_IP, NODE_IP6],
    clusterCIDRs: [CLUSTER_CIDR, CLUSTER_CIDR6],
    ...overrides,
  });
}

/**
 * One IPv6 service port per feature, in one state: ClusterIP (three endpoints), NodePort, external IP,
 * LoadBalancer with source ranges, ClientIP affinity, no endpoints (REJECT), Local traffic policy with a
 * local endpoint (hairpin), UDP.
 */
const ipv6Features: ProxyState = proxyState([
  servicePort({
    serviceName: 'cluster',
    clusterIPs: ['fd00:172:30::41'],
    endpoints: [ep(1), ep(2), ep(3)],
  }),
  servicePort({
    serviceName: 'nodeport',
    clusterIPs: ['fd00:172:30::42'],
    type: 'NodePort',
    nodePort: 30080,
    endpoints: [ep(1), ep(2)],
  }),
  servicePort({
    serviceName: 'external',
    clusterIPs: ['fd00:172:30::43'],
    externalIPs: [EXTERNAL_IP6],
    endpoints: [ep(1), ep(2)],
  }),
  servicePort({
    serviceName: 'lb',
    clusterIPs: ['fd00:172:30::44'],
    type: 'LoadBalancer',
    nodePort: 30081,
    loadBalancerIPs: [LB_IP6],
    loadBalancerSourceRanges: ['2001:db8:113::/64', '2001:db8:168::/64'],
    endpoints: [ep(1), ep(2)],
  }),
  servicePort({
    serviceName: 'affinity',
    clusterIPs: ['fd00:172:30::45'],
    sessionAffinity: { type: 'ClientIP', timeoutSeconds: 10800 },
    endpoints: [ep(1), ep(2)],
  }),
  servicePort({
    serviceName: 'empty',
    clusterIPs: ['fd00:172:30::46'],
    type: 'NodePort',
    nodePort: 30082,
    endpoints: [],
  }),
  servicePort({
    serviceName: 'local',
    clusterIPs: ['fd00:172:30::47'],
    type: 'NodePort',
    nodePort: 30083,
    externalTrafficPolicy: 'Local',
    endpoints: [{ address: ep(10), local: true }, ep(11)],
  }),
  servicePort({
    serviceName: 'dns',
    clusterIPs: ['fd00:172:30::48'],
    protocol: 'UDP',
    port: 53,
    portName: 'dns',
    endpoints: [ep(1, 53), ep(2, 53)],
  }),
]);

/**
 * A dual-stack node's Services: one dual-stack (both VIPs, endpoints of both families), one IPv4-only,
 * one IPv6-only, and a dual-stack one whose IPv6 endpoints are missing (REJECT in IPv6 only).
 */
const dualStack: ProxyState = proxyState([
  servicePort({
    serviceName: 'both',
    clusterIPs: ['172.30.0.41', 'fd00:172:30::41'],
    ipFamilies: ['IPv4', 'IPv6'],
    type: 'NodePort',
    nodePort: 30080,
    endpoints: ['10.180.0.1:80', '10.180.0.2:80', ep(1), ep(2)],
  }),
  servicePort({
    serviceName: 'v4only',
    clusterIPs: ['172.30.0.42'],
    ipFamilies: ['IPv4'],
    endpoints: ['10.180.0.3:80'],
  }),
  servicePort({
    serviceName: 'v6only',
    clusterIPs: ['fd00:172:30::43'],
    ipFamilies: ['IPv6'],
    sessionAffinity: { type: 'ClientIP', timeoutSeconds: 600 },
    endpoints: [ep(3), ep(4)],
  }),
  servicePort({
    serviceName: 'halfempty',
    clusterIPs: ['172.30.0.44', 'fd00:172:30::44'],
    ipFamilies: ['IPv4', 'IPv6'],
    endpoints: ['10.180.0.5:80'],
  }),
]);

/** The IPv6 scenarios (planned with the IPv6 options of {@link dualStackOptions}), in golden-file order. */
export const IPV6_SCENARIOS: readonly DualStackScenario[] = [
  { name: 'ipv6', state: ipv6Features, options: dualStackOptions() },
  {
    name: 'ipv6-node-port-addresses',
    state: ipv6Features,
    options: dualStackOptions({
      nodeIPs: [NODE_IP, NODE_IP6, OTHER_NODE_IP6, '::1'],
      nodePortAddresses: ['2001:db8:168::2/128', '::1/128', '192.168.0.0/16'],
    }),
  },
];

/** The dual-stack scenario: `kproxy rules` prints both families' scripts. */
export const DUAL_STACK_SCENARIO: DualStackScenario = {
  name: 'dual-stack',
  state: dualStack,
  options: dualStackOptions(),
};
