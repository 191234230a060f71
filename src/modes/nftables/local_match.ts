/**
 * The nftables form of the local-traffic match (upstream's `IfLocalNFT` / `IfNotLocalNFT`): `ip saddr
 * CIDR`, `iifname "BRIDGE"` or `iifname "PREFIX*"`, negated with `!=`.
 *
 * @module
 */
import type { LocalMatch } from '../common/local_detector.ts';
import type { NftMatch } from './ruleset.ts';

/**
 * The match of local traffic, or of the rest.
 *
 * @param match the local match (from localMatchFor: interface names are validated there)
 * @param negated true to match traffic that is not local
 * @returns the nftables match
 * @example nftLocalMatch({ kind: 'interface-prefix', prefix: 'veth' }, false) // iifname "veth*"
 */
export function nftLocalMatch(match: LocalMatch, negated: boolean): NftMatch {
  switch (match.kind) {
    case 'cidr':
      return {
        kind: 'address',
        field: 'saddr',
        negated,
        operand: { kind: 'prefixes', prefixes: [match.cidr] },
      };
    case 'interface':
      return { kind: 'input-interface', negated, name: match.name, wildcard: false };
    case 'interface-prefix':
      return { kind: 'input-interface', negated, name: match.prefix, wildcard: true };
    default: {
      const never: never = match;
      throw new Error(`Unknown local match: ${JSON.stringify(never)}`);
    }
  }
}
