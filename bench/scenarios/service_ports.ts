/**
 * Service ports built directly as the model's values, for the benchmarks that hand a state straight to a
 * mode's plan or Proxier (no manifests, no tracker): plain ClusterIP TCP ports whose endpoints are all
 * ready and remote, so that every endpoint list but the node-local one is the same. Endpoints, proxy
 * states and plan options come from the ground floor's test fixtures (src/model/testing/fixtures.ts:
 * `endpointAt`, `proxyState`, `planOptions`).
 *
 * @module
 */
import { servicePortState } from '../../src/model/testing/fixtures.ts';
import type { Endpoint, ServicePortState } from '../../src/model/types.ts';

/** What {@link clusterIpServicePort} takes. */
export interface ClusterIpPortSpec {
  /** Default `default`. */
  readonly namespace?: string | undefined;
  readonly serviceName: string;
  /** Default `http`. */
  readonly portName?: string | undefined;
  readonly clusterIPs: readonly string[];
  /** Default none. */
  readonly externalIPs?: readonly string[] | undefined;
  readonly port: number;
  readonly endpoints: readonly Endpoint[];
}

/**
 * A ClusterIP TCP service port with the model's defaults (no affinity, Cluster traffic policies, IPv4), and
 * these endpoints for every kind of traffic (none of them local).
 *
 * @param spec names, addresses, port and endpoints
 * @returns the service port, keyed as the tracker keys it
 * @example clusterIpServicePort({ serviceName: 'web', clusterIPs: ['198.19.0.10'], port: 80, endpoints: [endpointAt('198.18.101.2:8080')] })
 */
export function clusterIpServicePort(spec: ClusterIpPortSpec): ServicePortState {
  return servicePortState({
    namespace: spec.namespace ?? 'default',
    serviceName: spec.serviceName,
    portName: spec.portName ?? 'http',
    port: spec.port,
    clusterIPs: spec.clusterIPs,
    externalIPs: spec.externalIPs ?? [],
    allEndpoints: spec.endpoints,
    clusterEndpoints: spec.endpoints,
    internalEndpoints: spec.endpoints,
    externalEndpoints: spec.endpoints,
  });
}
