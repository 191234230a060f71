/**
 * Which services need a health-check listener, and how many local endpoints each has: derived from the
 * synced {@link ProxyState} for {@link ServiceHealthServer.sync}.
 *
 * @module
 */
import type { ProxyState } from '../model/types.ts';

/** One service's health check (`spec.healthCheckNodePort`). */
export interface ServiceHealthTarget {
  readonly namespace: string;
  readonly name: string;
  /** The port to listen on (0 picks a free port: tests only). */
  readonly port: number;
  /**
   * Ready endpoints of the service on this node, counted once per IP across all its ports, and per IP
   * family: the larger family's count (a dual-stack pod, with one address of each, counts once).
   */
  readonly localEndpoints: number;
}

/** Keys of health-check targets: `namespace/name` (the check is per service, not per service port). */
export type ServiceHealthKey = string;

/**
 * Every service with `externalTrafficPolicy: Local` and a `healthCheckNodePort`, with its count of local
 * ready endpoints. As upstream, only ready endpoints count (a node with only terminating endpoints fails
 * the check, so load balancers drain it) and an endpoint serving several ports counts once. Upstream's
 * per-family proxiers each count their own family's endpoints; kproxy serves one check per service for
 * both families and reports the larger family's count, which is what each family's count is when every
 * pod has an address of each.
 *
 * @param state the state just synced
 * @returns the targets keyed by `namespace/name`
 * @example await serviceHealth.sync(serviceHealthTargets(state))
 */
export function serviceHealthTargets(state: ProxyState): Map<ServiceHealthKey, ServiceHealthTarget> {
  const ports = new Map<
    ServiceHealthKey,
    { namespace: string; name: string; port: number; ips: Set<string>; ips6: Set<string> }
  >();
  for (const servicePort of state.servicePorts.values()) {
    if (servicePort.externalTrafficPolicy !== 'Local' || servicePort.healthCheckNodePort === 0) continue;
    const key = `${servicePort.namespace}/${servicePort.serviceName}`;
    let entry = ports.get(key);
    if (entry === undefined) {
      entry = {
        namespace: servicePort.namespace,
        name: servicePort.serviceName,
        port: servicePort.healthCheckNodePort,
        ips: new Set(),
        ips6: new Set(),
      };
      ports.set(key, entry);
    }
    for (const endpoint of servicePort.allEndpoints) {
      if (endpoint.isLocal && endpoint.ready)
        (endpoint.ip.includes(':') ? entry.ips6 : entry.ips).add(endpoint.ip);
    }
  }
  const targets = new Map<ServiceHealthKey, ServiceHealthTarget>();
  for (const [key, { namespace, name, port, ips, ips6 }] of ports) {
    targets.set(key, { namespace, name, port, localEndpoints: Math.max(ips.size, ips6.size) });
  }
  return targets;
}
