/**
 * The conntrack seam: deleting UDP conntrack entries that would keep sending packets to an endpoint
 * that is gone (the classic stale-DNS bug) or keep a service IP un-NATed after it gets endpoints. TCP
 * needs none of this: its connections fail and reconnect through the new rules.
 *
 * @module
 */
import type { IPFamily } from '../model/types.ts';
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

async function deleteEntries(
  exec: Exec,
  family: readonly string[],
  filter: readonly string[],
): Promise<void> {
  await runConntrackDelete(exec, ['-D', ...family, '-p', 'udp', ...filter]);
}

/**
 * Runs one `conntrack -D ...`; "0 flow entries have been deleted" (exit 1) is not a failure.
 *
 * @param exec where `conntrack` runs
 * @param args its arguments, `-D` first
 * @throws {KernelError} when conntrack fails otherwise
 * @example await runConntrackDelete(exec, ['-D', '-p', 'udp', '--orig-dst', '198.19.0.10'])
 */
export async function runConntrackDelete(exec: Exec, args: readonly string[]): Promise<void> {
  const r = await exec('conntrack', args);
  if (r.code === 0 || NOTHING_DELETED.test(r.stderr)) return;
  throw new KernelError(['conntrack', ...args].join(' '), r.code, r.stderr);
}

/** Options of {@link createConntrack}. */
export interface ConntrackOptions {
  /**
   * The family of the entries (IPv4 unless told): IPv6 deletions run with `-f ipv6`, since the tool
   * takes IPv4 when no address says otherwise (a node-port deletion names none), as upstream's netlink
   * filters name the family of their proxier.
   */
  readonly family?: IPFamily | undefined;
}

/**
 * The real seam over the `conntrack` tool, for one family.
 *
 * @param exec where commands run
 * @param options the family (IPv4 unless told)
 * @returns the seam
 * @example await createConntrack(exec, { family: 'IPv6' }).deleteUdpToNodePort(30053)
 */
export function createConntrack(exec: Exec, options: ConntrackOptions = {}): Conntrack {
  // IPv4 keeps the tool's default, as before dual-stack (the same command lines).
  const family = options.family === 'IPv6' ? ['-f', 'ipv6'] : [];
  return {
    deleteUdpToServiceIP: (ip) => deleteEntries(exec, family, ['--orig-dst', ip]),
    deleteUdpToNodePort: (port) => deleteEntries(exec, family, ['--orig-port-dst', String(port)]),
    deleteUdpServiceNat: (ip, ep) => deleteEntries(exec, family, ['--orig-dst', ip, '--dst-nat', ep]),
    deleteUdpNodePortNat: (port, ep) =>
      deleteEntries(exec, family, ['--orig-port-dst', String(port), '--dst-nat', ep]),
  };
}
