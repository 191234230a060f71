/**
 * Puts the lab's node namespace back to a clean kernel state between two measured targets: no nftables
 * table but the empty iptables tables on both backends, no IPVS virtual server, no ipset, no kube-ipvs0, no
 * conntrack entry.
 * It does not rely on the mode's own cleanup (which is under test elsewhere): a leftover rule from one
 * target must never shape the next one's numbers. Only ever run inside a kpt- namespace of the lab.
 *
 * @module
 */
import type { Lab } from '../../src/lab/lab.ts';
import { findCommand } from '../tools/ensure_tools.ts';

/** The tables kproxy may program, emptied by a restore without --noflush. */
const EMPTY_TABLES = ['nat', 'filter', 'mangle'].map((table) => `*${table}\nCOMMIT\n`).join('');

/**
 * Resets the node namespace's netfilter and IPVS state.
 *
 * @param lab the lab
 * @param ns its node namespace (must be one of the lab's; the lab refuses any other)
 * @example await resetNodeKernelState(lab, lab.node.ns)
 */
export async function resetNodeKernelState(lab: Lab, ns: string): Promise<void> {
  if (!ns.startsWith('kpt-')) throw new Error(`Refusing to reset a namespace that is not a kpt- one: ${ns}`);
  // Every nftables table of the namespace goes (the nftables mode's, and iptables-nft's, rebuilt empty
  // just below), so that no hook of an earlier target stays in the path.
  if (await findCommand('nft')) await lab.exec(ns, ['nft', 'flush', 'ruleset']);
  for (const backend of ['legacy', 'nft'] as const) {
    // A restore without --noflush replaces each named table with what it says: nothing.
    await lab.exec(ns, [`iptables-${backend}-restore`, '-w', '5'], { input: EMPTY_TABLES });
  }
  if (await findCommand('ipvsadm')) await lab.exec(ns, ['ipvsadm', '-C']);
  await lab.exec(ns, ['ip', 'link', 'del', 'kube-ipvs0']);
  if (await findCommand('ipset')) await lab.exec(ns, ['ipset', 'destroy']);
  if (await findCommand('conntrack')) await lab.exec(ns, ['conntrack', '-F']);
}
