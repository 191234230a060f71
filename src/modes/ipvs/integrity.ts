/**
 * The ipvs mode's integrity check between syncs (`IpvsProxier.checkIntact`, called by the daemon's
 * IntegrityWatch every 500 ms): whether the kernel still holds what the last sync programmed, at a cost
 * that does not grow with the number of services. It looks at, for the Proxier's own family:
 *
 * - **IPVS**: the first and the last planned virtual server (`ipvsadm -L -n --exact -t VIP:PORT`, one
 *   lookup each), with their planned real servers. `ipvsadm --clear` (or a deleted first/last one) is
 *   noticed; one virtual server deleted in the middle of the table is not (the periodic resync repairs it).
 * - **kube-ipvs0**: the first and the last planned VIP are still local addresses (`ip -j route get`, one
 *   FIB lookup each): the device deleted or its addresses flushed is noticed; one address removed in the
 *   middle is not.
 * - **ipsets**: every planned set exists and holds at least its planned number of entries (`ipset list
 *   -t`, one run: headers and the kernel's entry counts, never the entries): a set destroyed or flushed
 *   is noticed; an entry replaced by another is not.
 * - **iptables**: nat PREROUTING and OUTPUT still jump to KUBE-SERVICES, and KUBE-SERVICES holds its
 *   planned rule count (`-S CHAIN N`: one line whatever the chain holds), as the iptables mode checks: a
 *   flushed chain or nat table is noticed; the filter table's chains and the other nat chains are not.
 *
 * At most 8 commands a check (2 ipvsadm, 2 ip, 1 ipset, 3 iptables), whatever the number of services.
 * Whatever it does not see, the periodic full resync (`--iptables-sync-period`) still repairs.
 *
 * @module
 */
import { KUBE_SERVICES } from '../common/iptables_base_chains.ts';
import type { IpvsPlan, PlannedVirtualServer } from './plan.ts';
import type { IpvsSeams } from './seams.ts';

/** What {@link checkIpvsIntact} compares the kernel with: a few samples of the plan last applied. */
export interface IpvsIntegrityProbes {
  /** The first and last planned virtual servers (one when there is one; none when there are none). */
  readonly virtualServers: readonly PlannedVirtualServer[];
  /** The first and last VIPs bound to kube-ipvs0. */
  readonly addresses: readonly string[];
  /** Every planned set with its planned number of entries. */
  readonly sets: readonly { readonly name: string; readonly entries: number }[];
  /** Per family whose rules the plan holds: the number of rules planned in nat KUBE-SERVICES. */
  readonly iptables: readonly { readonly family: IpvsPlan['family']; readonly kubeServicesRules: number }[];
}

/** The first and the last element (one when they are the same, none when empty). */
function ends<T>(items: readonly T[]): T[] {
  const first = items[0];
  const last = items.at(-1);
  if (first === undefined || last === undefined) return [];
  return first === last ? [first] : [first, last];
}

/**
 * The samples of `plan` that the integrity check looks at (a pure function of the plan).
 *
 * @param plan the plan last applied
 * @returns the probes
 * @example integrityProbes(planIpvs(state, options)).virtualServers.length // 2 with two services or more
 */
export function integrityProbes(plan: IpvsPlan): IpvsIntegrityProbes {
  return {
    virtualServers: ends(plan.virtualServers),
    addresses: ends(plan.bindAddresses),
    sets: plan.families.flatMap((f) => f.ipsets.map((s) => ({ name: s.name, entries: s.entries.length }))),
    iptables: plan.families.map((f) => ({
      family: f.family,
      kubeServicesRules:
        f.tables.find((t) => t.table === 'nat')?.chains.find((c) => c.name === KUBE_SERVICES)?.rules.length ??
        0,
    })),
  };
}

/**
 * Checks the kernel against the probes (see the module comment for what it sees and what it does not).
 *
 * @param seams the ipvs mode's kernel seams
 * @param probes from {@link integrityProbes}
 * @returns why the kernel no longer holds the plan, or undefined when it looks intact
 * @example const damage = await checkIpvsIntact(seams, integrityProbes(plan))
 */
export async function checkIpvsIntact(
  seams: Pick<IpvsSeams, 'ipvs' | 'ipset' | 'netlink' | 'iptables'>,
  probes: IpvsIntegrityProbes,
): Promise<string | undefined> {
  for (const vs of probes.virtualServers) {
    const listed = await seams.ipvs.listService(vs);
    if (listed === undefined) return `the IPVS virtual server ${vs.key} is gone (ipvsadm --clear?)`;
    const have = new Set(listed.realServers.map((r) => `${r.address}:${r.port}`));
    const missing = vs.realServers.filter((r) => !have.has(`${r.address}:${r.port}`));
    if (missing.length > 0)
      return `the IPVS virtual server ${vs.key} lost ${missing.length} of its real servers`;
  }
  for (const address of probes.addresses) {
    if (!(await seams.netlink.isLocal(address)))
      return `the VIP ${address} is no longer a local address (kube-ipvs0 flushed or deleted?)`;
  }
  if (probes.sets.length > 0) {
    const counts = new Map((await seams.ipset.listHeaders()).map((h) => [h.name, h.entries]));
    for (const set of probes.sets) {
      const count = counts.get(set.name);
      if (count === undefined) return `the ipset ${set.name} is gone`;
      if (count < set.entries) return `the ipset ${set.name} holds ${count} of its ${set.entries} entries`;
    }
  }
  for (const { family, kubeServicesRules } of probes.iptables) {
    const ipt = await seams.iptables(family);
    for (const chain of ['PREROUTING', 'OUTPUT']) {
      const rules = await ipt.listRules('nat', chain);
      if (!rules?.some((r) => r.endsWith(`-j ${KUBE_SERVICES}`)))
        return `nat ${chain} no longer jumps to ${KUBE_SERVICES} (${family})`;
    }
    // Rule N exists only while the chain holds at least N rules: one line to read, whatever the size.
    if (kubeServicesRules > 0 && (await ipt.listRules('nat', KUBE_SERVICES, kubeServicesRules)) === undefined)
      return `nat ${KUBE_SERVICES} holds fewer than its ${kubeServicesRules} rules (flushed?) (${family})`;
  }
  return undefined;
}
