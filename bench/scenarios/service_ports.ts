/**
 * Service ports built directly as the model's values, for the benchmarks that hand a state straight to a
 * mode's plan or Proxier (no manifests, no tracker): plain ClusterIP TCP ports whose endpoints are all
 * ready and remote, so that every endpoint list but the node-local one is the same. Endpoints, proxy
 * states and plan options come from the ground floor's test fixtures (src/model/testing/fixtures.ts:
 * `endpointAt`, `proxyState`, `planOptions`).
 *
 * @module
 */
import { endpoint, servicePortState } from '../../src/model/testing/fixtures.ts';
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

/**
 * The i-th VIP of the probes' synthetic service sets: 172.30.0.0/15, only ever rule text (the probes
 * program a `kpt-` namespace and send no traffic).
 *
 * @param i 0-based service index
 * @returns e.g. `172.30.0.5`
 * @example syntheticVip(5) // '172.30.0.5'
 */
export function syntheticVip(i: number): string {
  return `172.${30 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
}

/**
 * The n-th pod address of the probes' synthetic service sets: 10.128.0.0/9, rule text only.
 *
 * @param n 0-based endpoint index
 * @returns e.g. `10.128.0.7`
 * @example syntheticPodIp(7) // '10.128.0.7'
 */
export function syntheticPodIp(n: number): string {
  return `10.${128 + ((n >> 16) & 127)}.${(n >> 8) & 255}.${n & 255}`;
}

/**
 * The i-th service port of a probe's synthetic set: `bench/svc-i`, ClusterIP, port 80 → 8080, with
 * `endpointsPerService` remote endpoints; `generation` k > 0 replaces its first endpoint (a one-endpoint
 * change).
 *
 * @param i 0-based service index
 * @param endpointsPerService endpoints per service
 * @param generation 0 for the original endpoints
 * @returns the service port
 * @example syntheticServicePort(0, 10).key // 'bench/svc-0:http/TCP'
 */
export function syntheticServicePort(
  i: number,
  endpointsPerService: number,
  generation = 0,
): ServicePortState {
  const endpoints = Array.from({ length: endpointsPerService }, (_, j) =>
    endpoint({
      ip: syntheticPodIp(i * endpointsPerService + j + (j === 0 ? generation * 7919 : 0)),
      port: 8080,
      nodeName: 'other',
    }),
  );
  return clusterIpServicePort({
    namespace: 'bench',
    serviceName: `svc-${i}`,
    clusterIPs: [syntheticVip(i)],
    port: 80,
    endpoints,
  });
}
