/**
 * The manifests the end-to-end and guest tests hand the real daemon: one ClusterIP Service with one named TCP port
 * and its EndpointSlice, as YAML text (what a user would write into the watched directory).
 *
 * @module
 */

/** One ClusterIP service of an end-to-end test. */
export interface ServiceYamlSpec {
  readonly name: string;
  readonly namespace: string;
  readonly clusterIP: string;
  /** The port name of the Service and the EndpointSlice. */
  readonly portName: string;
  /** The service port; a string lets a test write an invalid value on purpose. */
  readonly port: number | string;
  readonly targetPort: number;
  /** One ready endpoint per address. */
  readonly podIps: readonly string[];
}

/**
 * The Service and its EndpointSlice (`NAME-1`) as one YAML file.
 *
 * @param spec the service
 * @returns two YAML documents
 * @example
 * serviceYaml({ name: 'web', namespace: 'nft', clusterIP: '198.19.0.40', portName: 'http', port: 80,
 *   targetPort: 8080, podIps: ['198.18.101.2'] })
 */
export function serviceYaml(spec: ServiceYamlSpec): string {
  const { name, namespace, clusterIP, portName, port, targetPort, podIps } = spec;
  return `
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  clusterIP: ${clusterIP}
  ports: [{ name: ${portName}, port: ${port}, targetPort: ${targetPort} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: ${namespace}, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: ${portName}, port: ${targetPort}, protocol: TCP }]
endpoints:
${podIps.map((ip) => `  - addresses: [${ip}]`).join('\n')}
`;
}
