/**
 * Test fixtures for the iptables mode: service ports built the way the tracker builds them (endpoint
 * selection by the tracker's own {@link selectEndpoints}), so that a test states only what matters.
 *
 * Test address ranges (one place, as upstream's proxier_test.go does):
 * - cluster IPs 172.30.0.0/16, endpoints (pods) 10.180.0.0/16, cluster CIDR 10.0.0.0/8;
 * - node IP 192.168.0.2 (this node), another node's IP 192.168.0.3;
 * - external IPs 192.168.99.0/24, load-balancer IPs 1.2.3.4 and 5.6.7.8;
 * - an external client 203.0.113.2 (allowed source range 203.0.113.0/25), a disallowed one 203.0.113.200.
 *
 * @module
 */
import type { Endpoint, ProxyState, ServicePortState } from '../../model/types.ts';
import { servicePortKey } from '../../model/types.ts';
import { selectEndpoints } from '../../tracker/endpoint_selection.ts';
import type { PlanOptions } from '../mode.ts';

export const NODE_NAME = 'node-a';
export const NODE_IP = '192.168.0.2';
export const OTHER_NODE_IP = '192.168.0.3';
export const CLUSTER_CIDR = '10.0.0.0/8';
export const POD_CLIENT = '10.0.0.2';
export const EXTERNAL_CLIENT = '203.0.113.2';
export const BLOCKED_CLIENT = '203.0.113.200';

/** Endpoint conditions for a fixture: `ip:port` plus optional flags. */
export interface EndpointFixture {
  readonly address: string;
  readonly local?: boolean;
  readonly ready?: boolean;
  readonly serving?: boolean;
  readonly terminating?: boolean;
}

/** An endpoint from `ip:port` (ready, remote) or a fixture. */
export function endpoint(e: string | EndpointFixture): Endpoint {
  const f = typeof e === 'string' ? { address: e } : e;
  const colon = f.address.lastIndexOf(':');
  const ready = f.ready ?? true;
  return {
    ip: f.address.slice(0, colon),
    port: Number(f.address.slice(colon + 1)),
    ready,
    serving: f.serving ?? ready,
    terminating: f.terminating ?? false,
    nodeName: f.local ? NODE_NAME : 'node-b',
    zone: undefined,
    isLocal: f.local ?? false,
  };
}

/** What a test may set on a service port. */
export interface ServicePortFixture
  extends Partial<
    Omit<
      ServicePortState,
      | 'key'
      | 'allEndpoints'
      | 'clusterEndpoints'
      | 'localEndpoints'
      | 'internalEndpoints'
      | 'externalEndpoints'
    >
  > {
  readonly endpoints?: readonly (string | EndpointFixture)[];
}

/** A service port (ns1/svc1:p80 TCP, ClusterIP 172.30.0.41:80) with endpoints selected as the tracker does. */
export function servicePort(f: ServicePortFixture): ServicePortState {
  const namespace = f.namespace ?? 'ns1';
  const serviceName = f.serviceName ?? 'svc1';
  const portName = f.portName ?? 'p80';
  const protocol = f.protocol ?? 'TCP';
  const all = (f.endpoints ?? []).map(endpoint);
  const internalTrafficPolicy = f.internalTrafficPolicy ?? 'Cluster';
  const externalTrafficPolicy = f.externalTrafficPolicy ?? 'Cluster';
  const selection = selectEndpoints(all, {
    internal: internalTrafficPolicy,
    external: externalTrafficPolicy,
  });
  const { endpoints: _ignored, ...rest } = f;
  return {
    namespace,
    serviceName,
    portName,
    protocol,
    type: 'ClusterIP',
    port: 80,
    nodePort: 0,
    clusterIPs: ['172.30.0.41'],
    ipFamilies: ['IPv4'],
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    sessionAffinity: { type: 'None' },
    healthCheckNodePort: 0,
    annotations: {},
    ...rest,
    internalTrafficPolicy,
    externalTrafficPolicy,
    allEndpoints: all,
    ...selection,
    key: servicePortKey(namespace, serviceName, portName, protocol),
  };
}

/** A proxy state holding these service ports. */
export function proxyState(ports: readonly ServicePortState[], version = 1): ProxyState {
  const sorted = [...ports].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { version, nodeName: NODE_NAME, servicePorts: new Map(sorted.map((p) => [p.key, p])) };
}

/** Plan options: node 192.168.0.2, cluster CIDR 10.0.0.0/8, masquerade bit 14. */
export function planOptions(overrides: Partial<PlanOptions> = {}): PlanOptions {
  return {
    nodeName: NODE_NAME,
    nodeIPs: [NODE_IP],
    clusterCIDRs: [CLUSTER_CIDR],
    masqueradeAll: false,
    masqueradeBit: 14,
    ipvsScheduler: 'rr',
    nodePortAddresses: [],
    proxyPortRange: undefined,
    udpIdleTimeoutMs: 250,
    ...overrides,
  };
}
