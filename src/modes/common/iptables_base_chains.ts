/**
 * The fixed chains both iptables-based modes build on (the iptables and the ipvs mode, as upstream's
 * two proxiers share them): kube-proxy's fixed chain names, the masquerade mark and its use in
 * KUBE-MARK-MASQ and KUBE-POSTROUTING, the forwarding rules, and the shape of a jump from a built-in
 * chain. Each mode lists its own jumps (`IPTABLES_JUMPS`, `IPVS_JUMPS`).
 *
 * @module
 */
import { type ChainRules, commentMatch, type IptablesTable } from '../../kernel/iptables_restore.ts';

/** kube-proxy's fixed chain names. */
export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
/** Created empty in mangle, nat and filter; its disappearance means someone flushed iptables. */
export const KUBE_PROXY_CANARY = 'KUBE-PROXY-CANARY';

/**
 * The fwmark value for `--iptables-masquerade-bit`.
 *
 * @param bit 0-31 (default 14)
 * @returns the mark in hex, e.g. `0x4000`
 * @throws RangeError for a bit outside 0-31
 * @example masqueradeMark(14) // '0x4000'
 */
export function masqueradeMark(bit: number): string {
  if (!Number.isInteger(bit) || bit < 0 || bit > 31)
    throw new RangeError(`Masquerade bit must be 0-31: ${bit}`);
  return `0x${(2 ** bit).toString(16)}`;
}

/**
 * KUBE-MARK-MASQ: sets the masquerade bit; rules jump here to ask for SNAT.
 *
 * @param mark from {@link masqueradeMark}
 * @returns the chain
 * @example markMasqChain('0x4000').rules // ['-j MARK --or-mark 0x4000']
 */
export function markMasqChain(mark: string): ChainRules {
  return { name: KUBE_MARK_MASQ, rules: [`-j MARK --or-mark ${mark}`] };
}

/**
 * KUBE-POSTROUTING: masquerades marked packets once (the mark is cleared so that a packet that crosses
 * the stack again is not masqueraded twice). `--random-fully` avoids SNAT port collisions (iptables
 * 1.6.2+, checked by checkHost).
 *
 * @param mark from {@link masqueradeMark}
 * @returns the chain
 * @example postroutingChain('0x4000').rules.length // 3
 */
export function postroutingChain(mark: string): ChainRules {
  return {
    name: KUBE_POSTROUTING,
    rules: [
      `-m mark ! --mark ${mark}/${mark} -j RETURN`,
      `-j MARK --xor-mark ${mark}`,
      `${commentMatch('kubernetes service traffic requiring SNAT')} -j MASQUERADE --random-fully`,
    ],
  };
}

/**
 * KUBE-FORWARD (filter): drops INVALID packets (spurious RSTs would otherwise reset connections), and
 * accepts marked and established service traffic even when the FORWARD policy is DROP.
 *
 * @param mark from {@link masqueradeMark}
 * @returns the chain
 * @example forwardChain('0x4000').rules[0] // '-m conntrack --ctstate INVALID -j DROP'
 */
export function forwardChain(mark: string): ChainRules {
  return {
    name: KUBE_FORWARD,
    rules: ['-m conntrack --ctstate INVALID -j DROP', ...forwardAcceptRules(mark)],
  };
}

/**
 * The accepting rules of KUBE-FORWARD: marked service traffic, then its established connections. The
 * ipvs mode's KUBE-FORWARD is only these (upstream's ipvs proxier does not drop INVALID packets there).
 *
 * @param mark from {@link masqueradeMark}
 * @returns the two rules
 * @example forwardAcceptRules('0x4000').length // 2
 */
export function forwardAcceptRules(mark: string): string[] {
  return [
    `${commentMatch('kubernetes forwarding rules')} -m mark --mark ${mark}/${mark} -j ACCEPT`,
    `${commentMatch('kubernetes forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  ];
}

/** A jump from a built-in chain into one of kproxy's chains. */
export interface JumpRule {
  readonly table: IptablesTable;
  /** The built-in chain. */
  readonly from: string;
  /** The rule arguments, ending in `-j CHAIN`. */
  readonly rule: string;
  /** The chain jumped to. */
  readonly to: string;
}

/**
 * A commented jump from a built-in chain.
 *
 * @param table the table
 * @param from the built-in chain
 * @param to the chain jumped to
 * @param comment why (upstream's text)
 * @param extra matches before the comment, ending in a space
 * @returns the jump
 * @example jumpRule('nat', 'OUTPUT', 'KUBE-SERVICES', 'kubernetes service portals').rule // '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
 */
export function jumpRule(
  table: IptablesTable,
  from: string,
  to: string,
  comment: string,
  extra = '',
): JumpRule {
  return { table, from, to, rule: `${extra}${commentMatch(comment)} -j ${to}` };
}
