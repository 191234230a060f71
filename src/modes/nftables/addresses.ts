/**
 * The nftables family of a table and the IP family of its addresses, one for the other, and how an
 * address and a port are written together: the rest of address handling (parsing, prefixes, canonical
 * text) is the kernel layer's, shared with the iptables mode (src/kernel/iptables_address.ts).
 *
 * @module
 */
import { type IpCidr, LOOPBACK_CIDR, LOOPBACK_CIDR6 } from '../../kernel/iptables_address.ts';
import type { IPFamily } from '../../model/types.ts';
import type { NftFamily } from './ruleset.ts';

/**
 * The IP family of a table's addresses.
 *
 * @param family `ip` or `ip6`
 * @returns `IPv4` or `IPv6`
 * @example ipFamilyOfTable('ip6') // 'IPv6'
 */
export function ipFamilyOfTable(family: NftFamily): IPFamily {
  return family === 'ip6' ? 'IPv6' : 'IPv4';
}

/**
 * The loopback network of a table's family: local to every host, never a NodePort address.
 *
 * @param family `ip` or `ip6`
 * @returns 127.0.0.0/8 or ::1/128
 * @example loopbackOf('ip6') // { address: 1n, prefix: 128 }
 */
export function loopbackOf(family: NftFamily): IpCidr {
  return family === 'ip6' ? LOOPBACK_CIDR6 : LOOPBACK_CIDR;
}

/**
 * An address and a port as nft writes a DNAT target and kproxy prints a backend: an IPv6 address in
 * brackets.
 *
 * @param address a canonical address
 * @param port the port
 * @returns e.g. `10.0.0.1:80`, `[fd00::1]:80`
 * @example addressAndPort('fd00::1', 80) // '[fd00::1]:80'
 */
export function addressAndPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
