/**
 * IP addresses and CIDRs as iptables and ip6tables write them (`10.0.0.1`, `10.0.0.0/8`,
 * `10.0.0.0/255.0.0.0`, `fd00::1`, `fd00::/64`): parsing, containment and canonical printing. IPv4
 * addresses are unsigned 32-bit numbers and IPv6 ones 128-bit bigints, so that matching a rule at
 * 100 000 rules is arithmetic, not string work. The family-generic helpers ({@link parseIp},
 * {@link parseCidr}, {@link formatCidr}, {@link cidrContainsIp}) take either; IPv4 keeps its own fast
 * functions, which every plan calls for every endpoint.
 *
 * @module
 */
import { isIPv6 } from 'node:net';
import type { IPFamily } from '../model/types.ts';

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

/** An IPv6 network: address (already masked) as a 128-bit number, and prefix length. */
export interface Ipv6Cidr {
  readonly address: bigint;
  readonly prefix: number;
}

/** A network of either family: the address is a number for IPv4, a bigint for IPv6. */
export type IpCidr = Ipv4Cidr | Ipv6Cidr;

/** An address of either family: a number for IPv4 ({@link parseIpv4}), a bigint for IPv6 ({@link parseIpv6}). */
export type IpAddress = number | bigint;

const ALL_ONES_128 = (1n << 128n) - 1n;

/**
 * Tells whether a text is a plain IPv6 address (no zone, no prefix).
 *
 * @param text e.g. `2001:2::1`
 * @returns true for an IPv6 address
 * @example isIpv6Address('::1') // true
 */
export function isIpv6Address(text: string): boolean {
  // A zone (`fe80::1%eth0`) is no address for a rule.
  return !text.includes('%') && isIPv6(text);
}

/**
 * Parses an IPv6 address (compressed or not, with an optional dotted IPv4 tail).
 *
 * @param text e.g. `2001:2::1`, `::ffff:198.18.0.1`
 * @returns the address as a 128-bit number, or undefined when it is not an IPv6 address
 * @example parseIpv6('::1') // 1n
 */
export function parseIpv6(text: string): bigint | undefined {
  if (!isIpv6Address(text)) return undefined;
  let head = text;
  let tail = 0n;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = BigInt(v4);
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  const left = halves[0] === '' ? [] : halves[0]!.split(':');
  const right = halves.length < 2 || halves[1] === '' ? [] : halves[1]!.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  if (groups.length !== 8) return undefined;
  let hex = '0x';
  for (const g of groups) hex += g.padStart(4, '0');
  return BigInt(hex) | tail;
}

/**
 * Prints an IPv6 address in the RFC 5952 form (lower case, the first longest run of two or more zero
 * groups as `::`), as the API server and ip6tables-save print it.
 *
 * @param address a 128-bit number
 * @returns e.g. `2001:2::1`
 * @example formatIpv6(1n) // '::1'
 */
export function formatIpv6(address: bigint): string {
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((address >> shift) & 0xffffn));
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLength))}`;
}

function maskOf6(prefix: number): bigint {
  return prefix === 0 ? 0n : ALL_ONES_128 ^ ((1n << BigInt(128 - prefix)) - 1n);
}

/**
 * Parses an IPv6 address or network as ip6tables accepts it after `-s`/`-d`: `ADDR` or `ADDR/N`.
 *
 * @param text the address or CIDR
 * @returns the network (host bits cleared, as ip6tables does), or undefined when malformed
 * @example parseIpv6Cidr('2001:2::5/64') // { address: 0x20010002000000000000000000000000n, prefix: 64 }
 */
export function parseIpv6Cidr(text: string): Ipv6Cidr | undefined {
  const slash = text.indexOf('/');
  const ip = parseIpv6(slash < 0 ? text : text.slice(0, slash));
  if (ip === undefined) return undefined;
  let prefix = 128;
  if (slash >= 0) {
    const rest = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(rest)) return undefined;
    prefix = Number(rest);
    if (prefix > 128) return undefined;
  }
  return { address: ip & maskOf6(prefix), prefix };
}

/**
 * Tells whether an IPv6 network contains an address.
 *
 * @param cidr the network
 * @param address the address (from {@link parseIpv6})
 * @returns true when the address is inside
 * @example ipv6CidrContains(parseIpv6Cidr('2001:2::/48')!, parseIpv6('2001:2::1')!) // true
 */
export function ipv6CidrContains(cidr: Ipv6Cidr, address: bigint): boolean {
  return (address & maskOf6(cidr.prefix)) === cidr.address;
}

/**
 * Prints an IPv6 network the way ip6tables-save does (`2001:2::/48`, `2001:2::1/128`).
 *
 * @param cidr the network
 * @returns its canonical text
 * @example formatIpv6Cidr({ address: 1n, prefix: 128 }) // '::1/128'
 */
export function formatIpv6Cidr(cidr: Ipv6Cidr): string {
  return `${formatIpv6(cidr.address)}/${cidr.prefix}`;
}

/** ::1/128: the IPv6 loopback address, local to every host. */
export const LOOPBACK_CIDR6: Ipv6Cidr = { address: 1n, prefix: 128 };

/**
 * Parses an address of one family.
 *
 * @param text the address
 * @param family its expected family
 * @returns a number (IPv4) or bigint (IPv6), or undefined when it is not an address of `family`
 * @example parseIp('2001:2::1', 'IPv6') // 0x20010002000000000000000000000001n
 */
export function parseIp(text: string, family: IPFamily): IpAddress | undefined {
  return family === 'IPv6' ? parseIpv6(text) : parseIpv4(text);
}

/**
 * Prints an address of either family in canonical form.
 *
 * @param address a number (IPv4) or bigint (IPv6)
 * @returns e.g. `10.0.0.1` or `2001:2::1`
 * @example formatIp(1n) // '::1'
 */
export function formatIp(address: IpAddress): string {
  return typeof address === 'bigint' ? formatIpv6(address) : formatIpv4(address);
}

/**
 * The canonical form of an address of one family.
 *
 * @param text the address
 * @param family its expected family
 * @returns the canonical text, or undefined when it is not an address of `family`
 * @example canonicalIpOf('2001:0002::0001', 'IPv6') // '2001:2::1'
 */
export function canonicalIpOf(text: string, family: IPFamily): string | undefined {
  const address = parseIp(text, family);
  return address === undefined ? undefined : formatIp(address);
}

/**
 * Parses a network of one family as (ip6)tables accepts it after `-s`/`-d`.
 *
 * @param text the address or CIDR
 * @param family its expected family
 * @returns the network, or undefined when malformed or of the other family
 * @example parseCidr('2001:2::/48', 'IPv6')?.prefix // 48
 */
export function parseCidr(text: string, family: IPFamily): IpCidr | undefined {
  return family === 'IPv6' ? parseIpv6Cidr(text) : parseIpv4Cidr(text);
}

/**
 * Prints a network of either family the way (ip6)tables-save does.
 *
 * @param cidr the network
 * @returns its canonical text
 * @example formatCidr({ address: 167772160, prefix: 8 }) // '10.0.0.0/8'
 */
export function formatCidr(cidr: IpCidr): string {
  return typeof cidr.address === 'bigint'
    ? formatIpv6Cidr(cidr as Ipv6Cidr)
    : formatIpv4Cidr(cidr as Ipv4Cidr);
}

/**
 * Tells whether a network contains an address; never across families.
 *
 * @param cidr the network (either family)
 * @param address the address (either family)
 * @returns true when the address is inside (false when their families differ)
 * @example cidrContainsIp(parseCidr('2001:2::/48', 'IPv6')!, parseIpv6('2001:2::1')!) // true
 */
export function cidrContainsIp(cidr: IpCidr, address: IpAddress): boolean {
  if (typeof cidr.address === 'bigint') {
    return typeof address === 'bigint' && ipv6CidrContains(cidr as Ipv6Cidr, address);
  }
  return typeof address === 'number' && cidrContains(cidr as Ipv4Cidr, address);
}
