/**
 * Test fixtures for the kernel modes' plans (iptables, nftables): service ports built the way the tracker
 * builds them (endpoint selection by the tracker's own {@link selectEndpoints}), so that a test states only
 * what matters. Built on the shared builders of src/model/testing/fixtures.ts, with upstream's address plan
 * (both modes' golden files pin it).
 *
 * Test address ranges (one place, as upstream's proxier_test.go does):
 * - cluster IPs 172.30.0.0/16, endpoints (pods) 10.180.0.0/16, cluster CIDR 10.0.0.0/8;
 * - node IP 192.168.0.2 (this node), another node's IP 192.168.0.3;
 * - external IPs 192.168.99.0/24, load-balancer IPs 1.2.3.4 and 5.6.7.8;
 * - an external client 203.0.113.2 (allowed source range 203.0.113.0/25), a disallowed one 203.0.113.200.
 *
 * @module
 */

import type { PlanOptions } from '../../../contracts/plan_options.ts';
import {
  endpointAt,
  planOptions as modelPlanOptions,
  proxyState as modelProxyState,
  NODE_NAME,
  servicePortState,
  stateChange,
} from '../../../model/testing/fixtures.ts';
import type {
  Endpoint,
  ProxyState,
  ServicePortKey,
  ServicePortState,
  StateChange,
} from '../../../model/types.ts';
import { selectEndpoints } from '../../../tracker/endpoint_selection.ts';

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
  const ready = f.ready ?? true;
  return endpointAt(f.address, {
    ready,
    serving: f.serving ?? ready,
    terminating: f.terminating ?? false,
    nodeName: f.local ? NODE_NAME : 'node-b',
    isLocal: f.local ?? false,
  });
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
  const all = (f.endpoints ?? []).map(endpoint);
  const selection = selectEndpoints(all, {
    internal: f.internalTrafficPolicy ?? 'Cluster',
    external: f.externalTrafficPolicy ?? 'Cluster',
  });
  const { endpoints: _ignored, ...rest } = f;
  return servicePortState({
    namespace: 'ns1',
    serviceName: 'svc1',
    portName: 'p80',
    clusterIPs: ['172.30.0.41'],
    ...rest,
    allEndpoints: all,
    ...selection,
  });
}

/** A proxy state holding these service ports. */
export function proxyState(ports: readonly ServicePortState[], version = 1): ProxyState {
  return modelProxyState(ports, { version });
}

/** A change of these service ports (`removed` ones are changed too), from one endpoint event. */
export function change(
  changed: readonly ServicePortKey[],
  removed: readonly ServicePortKey[] = [],
): StateChange {
  return stateChange({
    changed: new Set([...changed, ...removed]),
    removed: new Set(removed),
    endpointEvents: 1,
  });
}

/** Plan options: node 192.168.0.2, cluster CIDR 10.0.0.0/8, masquerade bit 14. */
export function planOptions(overrides: Partial<PlanOptions> = {}): PlanOptions {
  return modelPlanOptions({ nodeIPs: [NODE_IP], clusterCIDRs: [CLUSTER_CIDR], ...overrides });
}
