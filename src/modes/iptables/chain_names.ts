/**
 * kube-proxy's chain names, computed exactly as upstream does so that a kube-proxy user finds the same
 * KUBE-SVC-/KUBE-SEP- names for the same service port and endpoint: the first 16 characters of the
 * base32 (RFC 4648) encoding of sha256(servicePortName + protocol [+ endpoint]), where the service port
 * name is `namespace/name` plus `:port` when the port is named and the protocol is lower case.
 *
 * Exported for the ipvs mode and the tracer; stable across releases (golden files pin it).
 *
 * @module
 */
import type { ServicePortState } from '../../model/types.ts';
import { sha256Base32 } from '../common/base32.ts';

/**
 * The upstream hash of a service port (or endpoint) name.
 *
 * @param text servicePortName + protocol (+ endpoint)
 * @returns 16 characters of base32
 * @example hash16('ns1/svc1:p80tcp') // 'XPGD46QRK7WJZT7O'
 */
export function hash16(text: string): string {
  return sha256Base32(text, 16);
}

/**
 * The service port name as upstream prints it (`ServicePortName.String()`).
 *
 * @param namespace the service's namespace
 * @param name the service's name
 * @param portName the port's name ('' for an unnamed port)
 * @returns `namespace/name` or `namespace/name:portName`
 * @example servicePortName('ns1', 'svc1', 'p80') // 'ns1/svc1:p80'
 */
export function servicePortName(namespace: string, name: string, portName: string): string {
  return portName === '' ? `${namespace}/${name}` : `${namespace}/${name}:${portName}`;
}

/** The per-service-port chain names. */
export interface ServiceChainNames {
  /** `ns/name:port` as upstream prints it (used in comments). */
  readonly portName: string;
  /** Cluster traffic policy chain (KUBE-SVC-). */
  readonly cluster: string;
  /** Local traffic policy chain (KUBE-SVL-). */
  readonly local: string;
  /** External destinations chain (KUBE-EXT-). */
  readonly external: string;
  /** Load-balancer source ranges firewall chain (KUBE-FW-). */
  readonly firewall: string;
}

/**
 * Names the chains of one service port.
 *
 * @param sp the service port
 * @returns its KUBE-SVC-/KUBE-SVL-/KUBE-EXT-/KUBE-FW- names
 * @example serviceChainNames(sp).cluster // 'KUBE-SVC-XPGD46QRK7WJZT7O' for ns1/svc1:p80 TCP
 */
export function serviceChainNames(
  sp: Pick<ServicePortState, 'namespace' | 'serviceName' | 'portName' | 'protocol'>,
): ServiceChainNames {
  const portName = servicePortName(sp.namespace, sp.serviceName, sp.portName);
  const h = hash16(portName + sp.protocol.toLowerCase());
  return {
    portName,
    cluster: `KUBE-SVC-${h}`,
    local: `KUBE-SVL-${h}`,
    external: `KUBE-EXT-${h}`,
    firewall: `KUBE-FW-${h}`,
  };
}

/**
 * Names the chain of one endpoint of a service port.
 *
 * @param portName the upstream service port name (`ns/name:port`)
 * @param protocol TCP, UDP or SCTP
 * @param endpoint `ip:port`
 * @returns `KUBE-SEP-` + hash
 * @example endpointChainName('ns1/svc1:p80', 'TCP', '10.180.0.1:80') // 'KUBE-SEP-SXIVWICOYRO3J4NJ'
 */
export function endpointChainName(portName: string, protocol: string, endpoint: string): string {
  return `KUBE-SEP-${hash16(portName + protocol.toLowerCase() + endpoint)}`;
}

/** Prefixes of the per-service and per-endpoint chains (all in the nat table). */
export const SERVICE_CHAIN_PREFIXES: readonly string[] = [
  'KUBE-SVC-',
  'KUBE-SVL-',
  'KUBE-EXT-',
  'KUBE-FW-',
  'KUBE-SEP-',
];

/**
 * Tells whether a chain is a per-service or per-endpoint chain of this mode.
 *
 * @param chain a chain name
 * @returns true for KUBE-SVC-/SVL-/EXT-/FW-/SEP- chains
 * @example isServiceChain('KUBE-SEP-SXIVWICOYRO3J4NJ') // true
 */
export function isServiceChain(chain: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => chain.startsWith(p));
}
