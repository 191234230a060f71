/**
 * IPv4 addresses as numbers, on the ground floor: the tracker sorts endpoints by address and the kernel
 * layer matches rules by address, with the same parse.
 *
 * @module
 */

/**
 * Parses a dotted-quad IPv4 address.
 *
 * @param text e.g. `10.0.0.1`
 * @returns the address as an unsigned 32-bit number, or undefined when it is not an IPv4 address
 * @example parseIpv4('10.0.0.1') // 167772161
 */
export function parseIpv4(text: string): number | undefined {
  // Hand-rolled: it runs for every endpoint of every sync. Same rules as net.isIPv4 (no leading zeros).
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return undefined;
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return value * 256 + part;
}
