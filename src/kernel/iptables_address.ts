/**
 * IPv4 addresses and CIDRs as iptables writes them (`10.0.0.1`, `10.0.0.0/8`, `10.0.0.0/255.0.0.0`):
 * parsing, containment and canonical printing. Addresses are unsigned 32-bit numbers, so that matching a
 * rule at 100 000 rules is arithmetic, not string work.
 *
 * IPv6 networks (in ip6tables rules) are only validated, not modelled: the tracer walks IPv4 packets.
 *
 * @module
 */
import { isIPv6 } from 'node:net';

/** An IPv4 network: address (already masked) and prefix length. */
export interface Ipv4Cidr {
  readonly address: number;
  readonly prefix: number;
}

import { parseIpv4 } from '../model/ipv4.ts';

/** Re-exported for the kernel layer's users: the parse lives on the ground floor (model/ipv4.ts). */
export { parseIpv4 };

/**
 * Prints an address as a dotted quad.
 *
 * @param address an unsigned 32-bit number
 * @returns e.g. `10.0.0.1`
 * @example formatIpv4(167772161) // '10.0.0.1'
 */
export function formatIpv4(address: number): string {
  return `${address >>> 24}.${(address >>> 16) & 255}.${(address >>> 8) & 255}.${address & 255}`;
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses an address or network as iptables accepts it after `-s`/`-d`: `A.B.C.D`, `A.B.C.D/N` or
 * `A.B.C.D/M.M.M.M` (a contiguous mask).
 *
 * @param text the address or CIDR
 * @returns the network (host bits cleared, as iptables does), or undefined when malformed
 * @example parseIpv4Cidr('10.1.2.3/8') // { address: 167772160, prefix: 8 }
 */
export function parseIpv4Cidr(text: string): Ipv4Cidr | undefined {
  const slash = text.indexOf('/');
  const ip = parseIpv4(slash < 0 ? text : text.slice(0, slash));
  if (ip === undefined) return undefined;
  let prefix = 32;
  if (slash >= 0) {
    const rest = text.slice(slash + 1);
    if (/^\d{1,2}$/.test(rest)) {
      prefix = Number(rest);
      if (prefix > 32) return undefined;
    } else {
      const mask = parseIpv4(rest);
      if (mask === undefined) return undefined;
      const ones = 32 - Math.log2(((~mask >>> 0) + 1) >>> 0 || 2 ** 32);
      if (!Number.isInteger(ones) || maskOf(ones) !== mask) return undefined;
      prefix = ones;
    }
  }
  return { address: (ip & maskOf(prefix)) >>> 0, prefix };
}

/**
 * Tells whether a network contains an address.
 *
 * @param cidr the network
 * @param address the address (from {@link parseIpv4})
 * @returns true when the address is inside
 * @example cidrContains(parseIpv4Cidr('10.0.0.0/8')!, parseIpv4('10.2.3.4')!) // true
 */
export function cidrContains(cidr: Ipv4Cidr, address: number): boolean {
  return (address & maskOf(cidr.prefix)) >>> 0 === cidr.address;
}

/**
 * Prints a network the way iptables-save does (`10.0.0.0/8`, `10.0.0.1/32`).
 *
 * @param cidr the network
 * @returns its canonical text
 * @example formatIpv4Cidr({ address: 167772160, prefix: 8 }) // '10.0.0.0/8'
 */
export function formatIpv4Cidr(cidr: Ipv4Cidr): string {
  return `${formatIpv4(cidr.address)}/${cidr.prefix}`;
}

/** 127.0.0.0/8: loopback addresses are local to every host. */
export const LOOPBACK_CIDR: Ipv4Cidr = { address: 0x7f000000, prefix: 8 };

/**
 * Checks an IPv6 address or network as ip6tables accepts it after `-s`/`-d` (`fd00::1`, `fd00::/64`).
 *
 * @param text the address or CIDR
 * @returns true when it is an IPv6 address with an optional prefix length of 0-128
 * @example isIpv6Cidr('::1/128') // true
 */
export function isIpv6Cidr(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash < 0) return isIPv6(text);
  const prefix = text.slice(slash + 1);
  return isIPv6(text.slice(0, slash)) && /^\d{1,3}$/.test(prefix) && Number(prefix) <= 128;
}
