/**
 * IP families of validated addresses, on the ground floor: the tracker splits state by family, the
 * modes plan one family at a time and the CLI picks a family for `trace` and `rules --ip-family`.
 *
 * @module
 */
import type { IPFamily } from './types.ts';

/** Both families, in the order kproxy plans, prints and syncs them. */
export const IP_FAMILIES: readonly IPFamily[] = ['IPv4', 'IPv6'];

/**
 * The family of a validated address or CIDR (sources and flags validate them first): a colon means IPv6.
 *
 * @param address e.g. `198.18.0.1`, `2001:2::1`, `2001:2::/64`
 * @returns its family
 * @example ipFamilyOf('2001:2::1') // 'IPv6'
 */
export function ipFamilyOf(address: string): IPFamily {
  return address.includes(':') ? 'IPv6' : 'IPv4';
}

/**
 * The addresses (or CIDRs) of one family, in their order; the array itself when all are of it.
 *
 * @param addresses validated addresses or CIDRs
 * @param family the family to keep
 * @returns those of `family`
 * @example ofFamily(['198.18.0.1', '2001:2::1'], 'IPv6') // ['2001:2::1']
 */
export function ofFamily(addresses: readonly string[], family: IPFamily): readonly string[] {
  const v6 = family === 'IPv6';
  let all = true;
  for (const a of addresses) {
    if (a.includes(':') !== v6) {
      all = false;
      break;
    }
  }
  if (all) return addresses;
  return addresses.filter((a) => a.includes(':') === v6);
}
