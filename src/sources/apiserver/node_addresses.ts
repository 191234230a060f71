/**
 * The node's own addresses, as kube-proxy takes them from its Node object: the InternalIP addresses
 * (ExternalIP ones when there is no InternalIP), which are where NodePorts are served.
 *
 * @module
 */
import { isIP } from 'node:net';

/**
 * Reads a Node's addresses: its `InternalIP`s in the order the kubelet reported them, or its
 * `ExternalIP`s when it has no InternalIP (upstream's `GetNodeHostIPs` order of preference). Anything
 * that is not an IP address is ignored; duplicates are dropped.
 *
 * @param node a Node object (JSON shape of `V1Node`)
 * @returns the addresses, possibly empty
 * @example
 * nodeAddresses({ status: { addresses: [{ type: 'Hostname', address: 'n1' }, { type: 'InternalIP', address: '10.0.0.5' }] } })
 * // ['10.0.0.5']
 */
export function nodeAddresses(node: unknown): string[] {
  const status =
    typeof node === 'object' && node !== null ? (node as { status?: unknown }).status : undefined;
  const list =
    typeof status === 'object' && status !== null ? (status as { addresses?: unknown }).addresses : undefined;
  if (!Array.isArray(list)) return [];
  const ofType = (type: string): string[] => {
    const found: string[] = [];
    for (const entry of list as unknown[]) {
      if (typeof entry !== 'object' || entry === null) continue;
      const { type: t, address } = entry as { type?: unknown; address?: unknown };
      if (t === type && typeof address === 'string' && isIP(address) !== 0 && !found.includes(address)) {
        found.push(address);
      }
    }
    return found;
  };
  const internal = ofType('InternalIP');
  return internal.length > 0 ? internal : ofType('ExternalIP');
}
