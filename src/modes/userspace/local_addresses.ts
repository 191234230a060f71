/**
 * Which addresses are this host's: a VIP that is one of them can be served by listening on it directly.
 *
 * @module
 */
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * The addresses of this host's interfaces (IPv4 and IPv6, without zone ids).
 *
 * @returns every interface address
 * @example hostAddresses().includes('127.0.0.1') // true
 */
export function hostAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) out.push(info.address.split('%')[0] ?? info.address);
  }
  return out;
}

/**
 * Tells whether an address is local: the whole of 127.0.0.0/8 and ::1 always are (Linux answers on all of
 * 127/8), and so is any address in `addresses`.
 *
 * @param ip the address
 * @param addresses the host's addresses
 * @returns true when a socket may bind it
 * @example isLocalAddress('127.0.0.100', []) // true
 */
export function isLocalAddress(ip: string, addresses: ReadonlySet<string>): boolean {
  if (ip === '::1' || (isIPv4(ip) && ip.startsWith('127.'))) return true;
  return addresses.has(ip);
}
