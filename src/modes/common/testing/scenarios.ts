/**
 * The scenarios behind the kernel modes' golden files (src/modes/<mode>/testdata/NAME.golden) and the
 * packet-flow tables (packet_flows.ts): one service (or a few) per kube-proxy feature. Addresses are the
 * fixture ranges of fixtures.ts.
 *
 * @module
 */

import type { PlanOptions } from '../../../contracts/plan_options.ts';
import type { ProxyState } from '../../../model/types.ts';
import { OTHER_NODE_IP, planOptions, proxyState, servicePort } from './fixtures.ts';

/** One planning scenario. */
export interface Scenario {
  readonly name: string;
  readonly state: ProxyState;
  readonly options: PlanOptions;
}

const two = ['10.180.0.1:80', '10.180.0.2:80'];

/** Every scenario, in golden-file order. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'cluster-ip',
    state: proxyState([servicePort({ endpoints: ['10.180.0.1:80', '10.180.0.2:80', '10.180.0.3:80'] })]),
    options: planOptions(),
  },
  {
    name: 'node-port',
    state: proxyState([servicePort({ type: 'NodePort', nodePort: 30080, endpoints: two })]),
    options: planOptions(),
  },
  {
    name: 'node-port-addresses',
    state: proxyState([servicePort({ type: 'NodePort', nodePort: 30080, endpoints: two })]),
    options: planOptions({
      nodeIPs: ['192.168.0.2', OTHER_NODE_IP, '127.0.0.1'],
      nodePortAddresses: ['192.168.0.2/32'],
    }),
  },
  {
    name: 'external-ips',
    state: proxyState([servicePort({ externalIPs: ['192.168.99.11'], endpoints: two })]),
    options: planOptions(),
  },
  {
    name: 'load-balancer-source-ranges',
    state: proxyState([
      servicePort({
        type: 'LoadBalancer',
        nodePort: 30080,
        loadBalancerIPs: ['5.6.7.8'],
        loadBalancerSourceRanges: ['203.0.113.0/25', '192.168.0.0/24'],
        endpoints: two,
      }),
    ]),
    options: planOptions(),
  },
  {
    name: 'session-affinity',
    state: proxyState([
      servicePort({ sessionAffinity: { type: 'ClientIP', timeoutSeconds: 10800 }, endpoints: two }),
    ]),
    options: planOptions(),
  },
  {
    name: 'no-endpoints',
    state: proxyState([
      servicePort({
        type: 'LoadBalancer',
        nodePort: 30080,
        externalIPs: ['192.168.99.11'],
        loadBalancerIPs: ['1.2.3.4'],
        endpoints: [{ address: '10.180.0.1:80', ready: false, serving: false }],
      }),
    ]),
    options: planOptions(),
  },
  {
    name: 'terminating-fallback',
    state: proxyState([
      servicePort({
        endpoints: [
          { address: '10.180.0.1:80', ready: false, serving: true, terminating: true },
          { address: '10.180.0.2:80', ready: false, serving: false, terminating: true },
        ],
      }),
    ]),
    options: planOptions(),
  },
  {
    name: 'external-traffic-policy-local',
    state: proxyState([
      servicePort({
        type: 'LoadBalancer',
        nodePort: 30080,
        healthCheckNodePort: 30000,
        externalIPs: ['192.168.99.22'],
        loadBalancerIPs: ['1.2.3.4'],
        externalTrafficPolicy: 'Local',
        endpoints: [{ address: '10.180.0.1:80', local: true }, '10.180.0.2:80'],
      }),
      servicePort({
        serviceName: 'svc2',
        clusterIPs: ['172.30.0.42'],
        type: 'NodePort',
        nodePort: 30081,
        externalTrafficPolicy: 'Local',
        endpoints: ['10.180.0.3:80'],
      }),
    ]),
    options: planOptions(),
  },
  {
    name: 'internal-traffic-policy-local',
    state: proxyState([
      servicePort({
        internalTrafficPolicy: 'Local',
        endpoints: [{ address: '10.180.0.1:80', local: true }, '10.180.0.2:80'],
      }),
      servicePort({
        serviceName: 'svc2',
        clusterIPs: ['172.30.0.42'],
        internalTrafficPolicy: 'Local',
        endpoints: ['10.180.0.3:80'],
      }),
    ]),
    options: planOptions(),
  },
  {
    name: 'named-ports',
    state: proxyState([
      servicePort({ portName: 'http', port: 80, endpoints: ['10.180.0.1:8080'] }),
      servicePort({ portName: 'metrics', port: 9090, endpoints: ['10.180.0.1:9100'] }),
    ]),
    options: planOptions(),
  },
  {
    name: 'multi-port',
    state: proxyState([
      servicePort({ portName: 'p80', port: 80, type: 'NodePort', nodePort: 30080, endpoints: two }),
      servicePort({
        portName: 'p443',
        port: 443,
        type: 'NodePort',
        nodePort: 30443,
        endpoints: ['10.180.0.1:443', '10.180.0.2:443'],
      }),
    ]),
    options: planOptions(),
  },
  {
    name: 'udp',
    state: proxyState([
      servicePort({
        namespace: 'kube-system',
        serviceName: 'kube-dns',
        portName: 'dns',
        protocol: 'UDP',
        port: 53,
        clusterIPs: ['172.30.0.10'],
        endpoints: ['10.180.0.5:53', '10.180.0.6:53'],
      }),
      servicePort({
        namespace: 'kube-system',
        serviceName: 'kube-dns',
        portName: 'dns-tcp',
        protocol: 'TCP',
        port: 53,
        clusterIPs: ['172.30.0.10'],
        endpoints: ['10.180.0.5:53', '10.180.0.6:53'],
      }),
    ]),
    options: planOptions(),
  },
  {
    name: 'sctp',
    state: proxyState([
      servicePort({ protocol: 'SCTP', portName: 'sctp', port: 3868, endpoints: ['10.180.0.1:3868'] }),
    ]),
    options: planOptions(),
  },
  {
    name: 'masquerade-all',
    state: proxyState([servicePort({ endpoints: two })]),
    options: planOptions({ masqueradeAll: true, masqueradeBit: 16 }),
  },
  {
    name: 'no-cluster-cidr',
    state: proxyState([
      servicePort({
        type: 'NodePort',
        nodePort: 30080,
        externalTrafficPolicy: 'Local',
        endpoints: [{ address: '10.180.0.1:80', local: true }],
      }),
    ]),
    options: planOptions({ clusterCIDRs: [] }),
  },
  {
    // --detect-local-mode: the cluster-IP masquerade rule and the Local-policy short-circuit follow it.
    name: 'detect-local-bridge-interface',
    state: proxyState([
      servicePort({
        type: 'LoadBalancer',
        nodePort: 30080,
        externalIPs: ['192.168.99.22'],
        externalTrafficPolicy: 'Local',
        endpoints: [{ address: '10.180.0.1:80', local: true }, '10.180.0.2:80'],
      }),
    ]),
    options: planOptions({ localDetector: { mode: 'BridgeInterface', name: 'cbr0' } }),
  },
  {
    // --detect-local-mode: the cluster-IP masquerade rule and the Local-policy short-circuit follow it.
    name: 'detect-local-interface-name-prefix',
    state: proxyState([
      servicePort({
        type: 'LoadBalancer',
        nodePort: 30080,
        externalIPs: ['192.168.99.22'],
        externalTrafficPolicy: 'Local',
        endpoints: [{ address: '10.180.0.1:80', local: true }, '10.180.0.2:80'],
      }),
    ]),
    options: planOptions({ localDetector: { mode: 'InterfaceNamePrefix', prefix: 'veth' } }),
  },
  {
    // --detect-local-mode: the cluster-IP masquerade rule and the Local-policy short-circuit follow it.
    name: 'detect-local-node-cidr',
    state: proxyState([
      servicePort({
        type: 'LoadBalancer',
        nodePort: 30080,
        externalIPs: ['192.168.99.22'],
        externalTrafficPolicy: 'Local',
        endpoints: [{ address: '10.180.0.1:80', local: true }, '10.180.0.2:80'],
      }),
    ]),
    options: planOptions({
      localDetector: { mode: 'NodeCIDR', cidrs: ['10.180.1.0/24', 'fd00:10:180:1::/64'] },
    }),
  },
  {
    name: 'hostile-names',
    state: proxyState([
      servicePort({
        namespace: 'ns1',
        serviceName: 'a" -j ACCEPT\n-A INPUT -j DROP #',
        portName: 'p\\80',
        endpoints: ['10.180.0.1:80'],
      }),
    ]),
    options: planOptions(),
  },
];
