/**
 * Small builders of API objects for tests of the API server source (addresses from 198.18.0.0/15,
 * cluster IPs from 198.19.0.0/16 so that nothing here can collide with a real network).
 *
 * @module
 */
import type { FakeObject } from './fake_apiserver.ts';

/** Options of {@link service}. */
export interface ServiceFixture {
  readonly clusterIP?: string;
  readonly port?: number;
  readonly labels?: Record<string, string>;
  readonly type?: string;
}

/**
 * A ClusterIP Service with one TCP port named `http`.
 *
 * @example service('default', 'web', { clusterIP: '198.19.0.10' })
 */
export function service(namespace: string, name: string, options: ServiceFixture = {}): FakeObject {
  return {
    metadata: { name, namespace, labels: options.labels ?? {} },
    spec: {
      type: options.type ?? 'ClusterIP',
      clusterIP: options.clusterIP ?? '198.19.0.10',
      clusterIPs: [options.clusterIP ?? '198.19.0.10'],
      ipFamilies: ['IPv4'],
      ports: [{ name: 'http', protocol: 'TCP', port: options.port ?? 80, targetPort: 8080 }],
    },
  };
}

/** Options of {@link endpointSlice}. */
export interface EndpointSliceFixture {
  readonly addresses?: readonly string[];
  readonly labels?: Record<string, string>;
}

/**
 * An IPv4 EndpointSlice of `serviceName` with ready endpoints on port 8080.
 *
 * @example endpointSlice('default', 'web-abc', 'web', { addresses: ['198.18.1.1'] })
 */
export function endpointSlice(
  namespace: string,
  name: string,
  serviceName: string,
  options: EndpointSliceFixture = {},
): FakeObject {
  return {
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': serviceName, ...options.labels } },
    addressType: 'IPv4',
    endpoints: (options.addresses ?? ['198.18.1.1']).map((ip) => ({
      addresses: [ip],
      conditions: { ready: true },
      nodeName: 'node-1',
    })),
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
  };
}

/**
 * A legacy core/v1 Endpoints object with ready addresses on port 8080.
 *
 * @example endpoints('default', 'web', ['198.18.1.1'])
 */
export function endpoints(
  namespace: string,
  name: string,
  addresses: readonly string[] = ['198.18.1.1'],
): FakeObject {
  return {
    metadata: { name, namespace },
    subsets: [
      { addresses: addresses.map((ip) => ({ ip })), ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] },
    ],
  };
}

/**
 * A Node with the given InternalIP addresses.
 *
 * @example node('node-1', ['198.18.0.5'])
 */
export function node(name: string, internalIPs: readonly string[]): FakeObject {
  return {
    metadata: { name },
    status: {
      addresses: [
        { type: 'Hostname', address: name },
        ...internalIPs.map((address) => ({ type: 'InternalIP', address })),
      ],
    },
  };
}
