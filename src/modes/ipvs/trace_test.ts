/**
 * Packet-flow table for the ipvs mode: each row plans a state and traces one packet through it.
 *
 * Addresses (all 198.18.0.0/15): VIPs 198.18.0.x, node 198.18.0.100, remote clients 198.18.5.x, pods
 * 198.19.1.x (198.19.1.11 is on this node).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PlanOptions } from '../../contracts/plan_options.ts';
import type { TracePacket, TraceVerdict } from '../../contracts/trace.ts';
import { NODE_IP, planOptions } from '../../model/testing/fixtures.ts';
import type { ProxyState } from '../../model/types.ts';
import { planIpvs } from './plan.ts';
import { endpoints, service, stateOf } from './testing/fixtures.ts';
import { traceIpvs } from './trace.ts';

const web = service('web');
const two = endpoints(web, ['198.19.1.1', '198.19.1.2']);
const nodePort = service('np', {
  type: 'NodePort',
  clusterIPs: ['198.18.0.11'],
  ports: [{ name: 'p', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
});
const nodePortLocal = service('npl', {
  type: 'NodePort',
  clusterIPs: ['198.18.0.12'],
  externalTrafficPolicy: 'Local',
  ports: [{ name: 'p', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30081 }],
});
const lb = service('lb', {
  type: 'LoadBalancer',
  clusterIPs: ['198.18.0.13'],
  loadBalancerIPs: ['198.18.0.200'],
  loadBalancerSourceRanges: ['198.18.5.0/24'],
});
const ext = service('ext', { clusterIPs: ['198.18.0.14'], externalIPs: ['198.18.0.201'] });

interface Row {
  readonly name: string;
  readonly state: ProxyState;
  readonly options?: Partial<PlanOptions>;
  readonly packet: Partial<TracePacket> & { destination: string };
  readonly verdict: TraceVerdict;
  readonly backends?: Readonly<Record<string, number>>;
  readonly masquerade?: boolean;
  readonly pathIncludes?: RegExp;
}

const rows: Row[] = [
  {
    name: 'clusterIP with rr spreads evenly over both endpoints',
    state: stateOf([[web, two]]),
    packet: { destination: '198.18.0.10' },
    verdict: 'DNAT',
    backends: { '198.19.1.1:8080': 0.5, '198.19.1.2:8080': 0.5 },
    masquerade: false,
    pathIncludes: /virtual server TCP\/198\.18\.0\.10:80 \(clusterIP of default\/web:p\/TCP\), scheduler rr/,
  },
  {
    name: 'a port the VIP does not serve is rejected by KUBE-IPVS-FILTER',
    state: stateOf([[web, two]]),
    packet: { destination: '198.18.0.10', port: 22 },
    verdict: 'REJECT',
    pathIncludes: /KUBE-IPVS-FILTER/,
  },
  {
    name: 'an address that is no service is not handled',
    state: stateOf([[web, two]]),
    packet: { destination: '198.18.7.7' },
    verdict: 'NONE',
  },
  {
    name: 'a service without endpoints is refused by the local stack',
    state: stateOf([[web]]),
    packet: { destination: '198.18.0.10' },
    verdict: 'REJECT',
    pathIncludes: /no real server/,
  },
  {
    name: 'the annotation picks sh: deterministic per source, all shown equally likely',
    state: stateOf([[service('web', { annotations: { 'kproxy.io/ipvs-scheduler': 'sh' } }), two]]),
    packet: { destination: '198.18.0.10' },
    verdict: 'DNAT',
    backends: { '198.19.1.1:8080': 0.5, '198.19.1.2:8080': 0.5 },
    pathIncludes: /sh: source hashing, deterministic per client address/,
  },
  {
    name: 'ClientIP affinity makes the virtual server persistent',
    state: stateOf([[service('web', { sessionAffinity: { type: 'ClientIP', timeoutSeconds: 600 } }), two]]),
    packet: { destination: '198.18.0.10' },
    verdict: 'DNAT',
    pathIncludes: /persistent 600 s/,
  },
  {
    name: 'clusterIP from outside --cluster-cidr is masqueraded',
    state: stateOf([[web, two]]),
    options: { clusterCIDRs: ['198.19.0.0/16'] },
    packet: { destination: '198.18.0.10', source: '198.18.5.1' },
    verdict: 'DNAT',
    masquerade: true,
  },
  {
    name: 'clusterIP from inside --cluster-cidr keeps its source',
    state: stateOf([[web, two]]),
    options: { clusterCIDRs: ['198.19.0.0/16'] },
    packet: { destination: '198.18.0.10', source: '198.19.1.50' },
    verdict: 'DNAT',
    masquerade: false,
  },
  {
    name: '--masquerade-all masquerades clusterIP traffic',
    state: stateOf([[web, two]]),
    options: { masqueradeAll: true },
    packet: { destination: '198.18.0.10', source: '198.19.1.50' },
    verdict: 'DNAT',
    masquerade: true,
  },
  {
    name: 'NodePort on the node address is masqueraded',
    state: stateOf([[nodePort, endpoints(nodePort, ['198.19.1.1'])]]),
    packet: { destination: NODE_IP, port: 30080 },
    verdict: 'DNAT',
    backends: { '198.19.1.1:8080': 1 },
    masquerade: true,
  },
  {
    name: 'NodePort with externalTrafficPolicy Local reaches only local endpoints and keeps the source',
    state: stateOf([
      [nodePortLocal, endpoints(nodePortLocal, ['198.19.1.1', '198.19.1.11'], { local: ['198.19.1.11'] })],
    ]),
    packet: { destination: NODE_IP, port: 30081 },
    verdict: 'DNAT',
    backends: { '198.19.1.11:8080': 1 },
    masquerade: false,
  },
  {
    name: 'load balancer from an allowed source range',
    state: stateOf([[lb, endpoints(lb, ['198.19.1.1'])]]),
    packet: { destination: '198.18.0.200', source: '198.18.5.9' },
    verdict: 'DNAT',
    masquerade: true,
  },
  {
    name: 'load balancer from outside the source ranges is dropped',
    state: stateOf([[lb, endpoints(lb, ['198.19.1.1'])]]),
    packet: { destination: '198.18.0.200', source: '198.18.6.9' },
    verdict: 'DROP',
    pathIncludes: /KUBE-SOURCE-RANGES-FIREWALL/,
  },
  {
    name: 'an external IP is served and masqueraded',
    state: stateOf([[ext, endpoints(ext, ['198.19.1.1'])]]),
    packet: { destination: '198.18.0.201' },
    verdict: 'DNAT',
    masquerade: true,
  },
  {
    name: 'a terminating endpoint is not a real server while a ready one exists',
    state: stateOf([[web, endpoints(web, ['198.19.1.1', '198.19.1.2'], { terminating: ['198.19.1.2'] })]]),
    packet: { destination: '198.18.0.10' },
    verdict: 'DNAT',
    backends: { '198.19.1.1:8080': 1 },
  },
];

describe('ipvs trace (packet flows)', () => {
  for (const row of rows) {
    it(row.name, () => {
      const options = planOptions(row.options);
      const packet: TracePacket = { source: '198.18.5.1', port: 80, protocol: 'TCP', ...row.packet };
      const result = traceIpvs(planIpvs(row.state, options), options, packet);
      assert.equal(result.verdict, row.verdict, result.path.join('\n'));
      if (row.backends !== undefined) {
        assert.deepEqual(
          Object.fromEntries(result.backends.map((b) => [b.address, b.probability])),
          row.backends,
        );
      }
      if (row.masquerade !== undefined)
        assert.equal(result.masquerade, row.masquerade, result.path.join('\n'));
      if (row.pathIncludes !== undefined) assert.match(result.path.join('\n'), row.pathIncludes);
    });
  }
});
