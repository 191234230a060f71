/**
 * What a restarted userspace relay must clear from connection tracking. Its portal rules send a VIP's
 * connections to a proxy port (REDIRECT, or DNAT for the node's own traffic); a restarted kproxy listens on
 * new proxy ports and rewrites the rules, but the connection-tracking entries of the connections made
 * before keep their old mapping. A client that reuses a source port while such an entry lives (TIME_WAIT
 * lasts two minutes; clients under load wrap their ports in seconds) is sent to the old port and refused.
 * This picks the entries to a portal's VIP and port whose reply does not come from the proxy port the rules
 * now name, and entries that no portal rewrote at all (made while the rules were missing).
 *
 * @module
 */
import type { ConntrackEntry, UnnatedTarget } from '../../kernel/conntrack_table.ts';
import type { IPFamily } from '../../model/types.ts';
import type { UserspacePlan } from './plan.ts';

/** Stale entries to delete: un-NATed ones (`replyPort` undefined) or redirected to `replyPort`. */
export type StaleRedirect = UnnatedTarget & { readonly replyPort: number | undefined };

/**
 * The stale entries of `entries` for a plan whose proxy ports are bound, one deletion per address, port
 * and stale reply port, in a stable order.
 *
 * @param entries the family's conntrack entries
 * @param plan the bound plan (its rules name the proxy ports the relay listens on)
 * @param family the family
 * @returns the deletions
 * @example staleRedirects(await table.list('IPv4'), bound, 'IPv4')
 */
export function staleRedirects(
  entries: readonly ConntrackEntry[],
  plan: UserspacePlan,
  family: IPFamily,
): StaleRedirect[] {
  // Where each portal sends a connection now, by protocol, destination and port. Node-port rules (no
  // destination: any local address) are left out: an entry to that port number may be anyone's.
  const now = new Map<string, number>();
  for (const rule of plan.rules) {
    if (rule.target.kind === 'ACCEPT' || rule.target.kind === 'DROP' || rule.destination === undefined)
      continue;
    now.set(`${rule.protocol} ${rule.destination.split('/')[0]} ${rule.dport}`, rule.target.toPort);
  }
  const out = new Map<string, StaleRedirect>();
  for (const e of entries) {
    const { original: o, reply: r } = e;
    const toPort = now.get(`${e.protocol} ${o.dst} ${o.dport}`);
    if (toPort === undefined) continue;
    const unnated = r.src === o.dst && r.sport === o.dport;
    if (!unnated && r.sport === toPort) continue;
    const replyPort = unnated ? undefined : r.sport;
    const key = `${e.protocol} ${o.dst} ${o.dport} ${replyPort ?? ''}`;
    if (!out.has(key)) out.set(key, { family, protocol: e.protocol, ip: o.dst, port: o.dport, replyPort });
  }
  return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, t]) => t);
}
