/**
 * The conntrack seam: deleting UDP conntrack entries that would keep sending packets to an endpoint
 * that is gone (the classic stale-DNS bug) or keep a service IP un-NATed after it gets endpoints. TCP
 * needs none of this: its connections fail and reconnect through the new rules.
 *
 * @module
 */
import type { Exec } from './exec.ts';
import { KernelError } from './exec.ts';

/** UDP conntrack cleanup, as upstream's conntrack helpers. */
export interface Conntrack {
  /** Entries whose original destination is this service IP. */
  deleteUdpToServiceIP(serviceIP: string): Promise<void>;
  /** Entries whose original destination port is this node port. */
  deleteUdpToNodePort(nodePort: number): Promise<void>;
  /** Entries from this service IP DNATed to this endpoint IP. */
  deleteUdpServiceNat(serviceIP: string, endpointIP: string): Promise<void>;
  /** Entries to this node port DNATed to this endpoint IP. */
  deleteUdpNodePortNat(nodePort: number, endpointIP: string): Promise<void>;
}

/** conntrack -D exits 1 with this when nothing matched, which is not a failure. */
const NOTHING_DELETED = /0 flow entries have been deleted/;

async function deleteEntries(exec: Exec, filter: readonly string[]): Promise<void> {
  const args = ['-D', '-p', 'udp', ...filter];
  const r = await exec('conntrack', args);
  if (r.code === 0 || NOTHING_DELETED.test(r.stderr)) return;
  throw new KernelError(['conntrack', ...args].join(' '), r.code, r.stderr);
}

/**
 * The real seam over the `conntrack` tool.
 *
 * @param exec where commands run
 * @returns the seam
 * @example await createConntrack(exec).deleteUdpServiceNat('172.30.0.10', '10.180.0.5')
 */
export function createConntrack(exec: Exec): Conntrack {
  return {
    deleteUdpToServiceIP: (ip) => deleteEntries(exec, ['--orig-dst', ip]),
    deleteUdpToNodePort: (port) => deleteEntries(exec, ['--orig-port-dst', String(port)]),
    deleteUdpServiceNat: (ip, ep) => deleteEntries(exec, ['--orig-dst', ip, '--dst-nat', ep]),
    deleteUdpNodePortNat: (port, ep) =>
      deleteEntries(exec, ['--orig-port-dst', String(port), '--dst-nat', ep]),
  };
}
