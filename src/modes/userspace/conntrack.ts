/**
 * Which UDP conntrack entries a sync leaves stale, as a pure function of the plans before and after it.
 *
 * UDP has no connections to fail: the kernel's conntrack entries of a flow that a portal rule REDIRECTed
 * keep sending that client's packets to the old proxy port after the rule is gone, where nothing listens,
 * or where a socket opened since for another service would get them. Upstream's userspace proxier deleted
 * the UDP entries to the service IP when a UDP service went away; so does kproxy, and to the node port,
 * for every UDP proxy socket that the new plan no longer has. The Proxier deletes them once the rules no
 * longer lead to the closed socket, in its own family's conntrack table ({@link conntrackForFamily}).
 *
 * @module
 */
import { type Conntrack, createConntrack } from '../../kernel/conntrack.ts';
import type { Exec } from '../../kernel/exec.ts';
import type { IPFamily } from '../../model/types.ts';
import type { UserspacePlan } from './plan.ts';

/** One deletion of UDP conntrack entries. */
export type UdpConntrackDeletion =
  | { readonly kind: 'serviceIP'; readonly ip: string }
  | { readonly kind: 'nodePort'; readonly port: number };

/**
 * The UDP conntrack deletions a sync from `before` to `after` calls for: the portals of every UDP proxy
 * socket of `before` that `after` no longer has. Service IPs first, then node ports, each sorted.
 *
 * @param before the plan of the previous sync (undefined before the first)
 * @param after the plan being applied
 * @returns the deletions, each once
 * @example staleUdpConntrack(previous, plan) // [{ kind: 'serviceIP', ip: '10.96.0.53' }]
 */
export function staleUdpConntrack(
  before: UserspacePlan | undefined,
  after: UserspacePlan,
): UdpConntrackDeletion[] {
  if (before === undefined) return [];
  const kept = new Set(after.servicePorts.flatMap((sp) => sp.sockets.map((s) => s.id)));
  const ips = new Set<string>();
  const nodePorts = new Set<number>();
  for (const sp of before.servicePorts) {
    if (sp.protocol !== 'UDP') continue;
    for (const socket of sp.sockets) {
      if (!socket.proxy || kept.has(socket.id)) continue;
      for (const portal of socket.portals) {
        if (portal.ip === undefined) nodePorts.add(portal.port);
        else ips.add(portal.ip);
      }
    }
  }
  return [
    ...[...ips].sort().map((ip) => ({ kind: 'serviceIP', ip }) as const),
    ...[...nodePorts].sort((a, b) => a - b).map((port) => ({ kind: 'nodePort', port }) as const),
  ];
}

/**
 * The conntrack seam of one family's Proxier: the kernel seam with the family (`-f ipv6` for IPv6, without
 * which `conntrack` takes a filter that names no address, a node port, as IPv4).
 *
 * @param exec where `conntrack` runs
 * @param family the Proxier's family
 * @returns the seam
 * @example await conntrackForFamily(exec, 'IPv6').deleteUdpToNodePort(30053)
 */
export function conntrackForFamily(exec: Exec, family: IPFamily): Conntrack {
  return createConntrack(exec, { family });
}
