/**
 * Test fixtures: service port states and proxy states with defaults, so that a test states only what
 * matters to it. Address ranges used by the userspace tests: VIPs 198.19.0.0/16 (lab) and 10.96.0.0/16
 * (plans), endpoints 198.18.101.0/24+ (lab pods) and 10.1.0.0/16 (plans), node 198.18.0.1 / 192.168.0.10.
 *
 * @module
 */

import type { PlanOptions } from '../../../contracts/plan_options.ts';
import {
  endpointAt,
  planOptions as modelPlanOptions,
  proxyState as modelProxyState,
  servicePortState,
} from '../../../model/testing/fixtures.ts';
import type { ProxyState, ServicePortState } from '../../../model/types.ts';

/** An endpoint `ip:port`, ready, on no particular node (the model's builder, by the name these tests use). */
export { endpointAt as endpoint };

/** What a test may set on a service port; endpoints are `ip:port` strings (used for every selection). */
export interface ServicePortFixture extends Partial<Omit<ServicePortState, 'key'>> {
  readonly namespace?: string;
  readonly serviceName?: string;
  readonly endpoints?: readonly string[];
}

/** A service port state (ClusterIP, TCP, no affinity) with the given fields. */
export function servicePort(fixture: ServicePortFixture): ServicePortState {
  const { endpoints = [], ...fields } = fixture;
  const eps = endpoints.map((e) => endpointAt(e));
  return servicePortState({
    serviceName: 'web',
    portName: 'http',
    clusterIPs: ['10.96.0.10'],
    allEndpoints: eps,
    clusterEndpoints: eps,
    internalEndpoints: eps,
    externalEndpoints: eps,
    ...fields,
  });
}

/** A proxy state holding these service ports (in key order). */
export function proxyState(ports: readonly ServicePortState[], version = 1): ProxyState {
  return modelProxyState(ports, { version });
}

/** Plan options: the model's defaults (node-a, no port range, UDP idle 250 ms) at node IP 192.168.0.10. */
export function planOptions(overrides: Partial<PlanOptions> = {}): PlanOptions {
  return modelPlanOptions({ nodeIPs: ['192.168.0.10'], ...overrides });
}

/**
 * The UDP service whose stale conntrack entries the tests follow (conntrack_test.ts: which deletions a sync
 * calls for; proxier_test.ts: that the Proxier runs them): DNS on 10.96.0.53 and external IP 198.18.50.53
 * (198.18.50.0/24: external IPs), node port 30053, one endpoint.
 */
export const udpDnsPort: ServicePortState = servicePort({
  serviceName: 'dns',
  portName: 'dns',
  protocol: 'UDP',
  type: 'NodePort',
  clusterIPs: ['10.96.0.53'],
  externalIPs: ['198.18.50.53'],
  port: 53,
  nodePort: 30053,
  endpoints: ['10.1.0.3:53'],
});
