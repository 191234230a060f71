/**
 * The IPv6 and dual-stack scenarios behind the kernel modes' per-family golden files
 * (src/modes/<mode>/testdata/NAME.golden): each state holds both families, as the tracker hands it, and a
 * mode plans it one family at a time through `familyView` and `planOptionsForFamily` (what
 * `kproxy rules` does). `families` says which families a golden file shows: one alone is printed bare,
 * both with renderFamilies' `# IPv4` / `# IPv6` heads.
 *
 * IPv6 address plan (upstream's proxier tests use the same shapes): cluster IPs fd00:172:30::/48,
 * endpoints fd00:10:180::/48 inside the cluster CIDR fd00:10::/32, this node fd00:192:168::2 (another
 * node fd00:192:168::3), external IPs fd00:192:168:99::/64, load-balancer IP 2001:db8:5678::8, external
 * clients 2001:db8:113::/64 (allowed source range 2001:db8:113::/65).
 *
 * @module
 */
import type { PlanOptions } from '../../../contracts/plan_options.ts';
import type { IPFamily, ProxyState } from '../../../model/types.ts';
import { CLUSTER_CIDR, NODE_IP, planOptions, proxyState, servicePort } from './fixtures.ts';

export const NODE_IP6 = 'fd00:192:168::2';
export const OTHER_NODE_IP6 = 'fd00:192:168::3';
export const CLUSTER_CIDR6 = 'fd00:10::/32';
export const POD_CLIENT6 = 'fd00:10::2';
export const EXTERNAL_CLIENT6 = '2001:db8:113::2';
export const BLOCKED_CLIENT6 = '2001:db8:113:0:8000::2';

/** One planning scenario of both families. */
export interface DualStackScenario {
  readonly name: string;
  /** The tracker's state (both families). */
  readonly state: ProxyState;
  /** Options of both families. */
  readonly options: PlanOptions;
  /** The families the golden file shows. */
  readonly families: readonly IPFamily[];
}

/** Plan options of a dual-stack node: both node IPs, both cluster CIDRs. */
export function dualStackPlanOptions(overrides: Partial<PlanOptions> = {}): PlanOptions {
  return planOptions({
    nodeIPs: [NODE_IP, NODE_IP6],
    clusterCIDRs: [CLUSTER_CIDR, CLUSTER_CIDR6],
    ...overrides,
  });
}

const v6 = ['fd00:172:30::41'];
const two6 = ['[fd00:10:180::1]:80', '[fd00:10:180::2]:80'];

/** Every IPv6 / dual-stack scenario, in golden-file order. */
export const DUAL_STACK_SCENARIOS: readonly DualStackScenario[] = [
  {
    // Both families side by side: a dual-stack Service, an IPv4-only one and an IPv6-only one; each family
    // programs the Services that have a cluster IP of it, and only its own endpoints.
    name: 'dual-stack',
    state: proxyState([
      servicePort({
        clusterIPs: ['172.30.0.41', 'fd00:172:30::41'],
        ipFamilies: ['IPv4', 'IPv6'],
        type: 'NodePort',
        nodePort: 30080,
        endpoints: ['10.180.0.1:80', '10.180.0.2:80', ...two6],
      }),
      servicePort({
        serviceName: 'svc-v4',
        clusterIPs: ['172.30.0.42'],
        endpoints: ['10.180.0.3:80'],
      }),
      servicePort({
        serviceName: 'svc-v6',
        clusterIPs: ['fd00:172:30::43'],
        ipFamilies: ['IPv6'],
        endpoints: ['[fd00:10:180::3]:80'],
      }),
    ]),
    options: dualStackPlanOptions(),
    families: ['IPv4', 'IPv6'],
  },
  {
    name: 'ipv6-cluster-ip',
    state: proxyState([
      servicePort({
        clusterIPs: v6,
        ipFamilies: ['IPv6'],
        endpoints: [...two6, '[fd00:10:180::10]:80'],
      }),
    ]),
    options: dualStackPlanOptions(),
    families: ['IPv6'],
  },
  {
    name: 'ipv6-session-affinity',
    state: proxyState([
      servicePort({
        clusterIPs: v6,
        ipFamilies: ['IPv6'],
        sessionAffinity: { type: 'ClientIP', timeoutSeconds: 10800 },
        endpoints: two6,
      }),
    ]),
    options: dualStackPlanOptions(),
    families: ['IPv6'],
  },
  {
    // REJECT is ICMPv6 port unreachable (ip6tables' default), for the cluster IP and the external ones.
    name: 'ipv6-no-endpoints',
    state: proxyState([
      servicePort({
        clusterIPs: v6,
        ipFamilies: ['IPv6'],
        type: 'LoadBalancer',
        nodePort: 30080,
        externalIPs: ['fd00:192:168:99::11'],
        loadBalancerIPs: ['2001:db8:5678::8'],
        endpoints: [{ address: '[fd00:10:180::1]:80', ready: false, serving: false }],
      }),
    ]),
    options: dualStackPlanOptions(),
    families: ['IPv6'],
  },
  {
    // External IPs, a load balancer with source ranges, the Local policy's pod short-circuit and hairpin
    // masquerade, all IPv6.
    name: 'ipv6-load-balancer-local',
    state: proxyState([
      servicePort({
        clusterIPs: v6,
        ipFamilies: ['IPv6'],
        type: 'LoadBalancer',
        nodePort: 30080,
        healthCheckNodePort: 30000,
        externalIPs: ['FD00:192:168:99:0:0:0:11'],
        loadBalancerIPs: ['2001:db8:5678::8'],
        loadBalancerSourceRanges: ['2001:db8:113::/65', 'fd00:192:168::/64', '203.0.113.0/25'],
        externalTrafficPolicy: 'Local',
        endpoints: [{ address: '[fd00:10:180::1]:80', local: true }, '[fd00:10:180::2]:80'],
      }),
    ]),
    options: dualStackPlanOptions(),
    families: ['IPv6'],
  },
  {
    // --nodeport-addresses of both families: the IPv6 plan keeps the IPv6 node addresses inside them and
    // never the loopback.
    name: 'ipv6-node-port-addresses',
    state: proxyState([
      servicePort({
        clusterIPs: v6,
        ipFamilies: ['IPv6'],
        type: 'NodePort',
        nodePort: 30080,
        endpoints: two6,
      }),
    ]),
    options: dualStackPlanOptions({
      nodeIPs: [NODE_IP, NODE_IP6, '::1', '2001:db8:1::2'],
      nodePortAddresses: ['192.168.0.0/24', 'fd00:192:168::/64', '::1/128'],
    }),
    families: ['IPv6'],
  },
  {
    name: 'ipv6-udp',
    state: proxyState([
      servicePort({
        namespace: 'kube-system',
        serviceName: 'kube-dns',
        portName: 'dns',
        protocol: 'UDP',
        port: 53,
        clusterIPs: ['fd00:172:30::10'],
        ipFamilies: ['IPv6'],
        endpoints: ['[fd00:10:180::5]:53', '[fd00:10:180::6]:53'],
      }),
    ]),
    options: dualStackPlanOptions(),
    families: ['IPv6'],
  },
];
