/**
 * RFC 4648 base32, the encoding upstream kube-proxy uses for its hashed chain names (iptables
 * `KUBE-SVC-<16>`, nftables `service-<8>-...`).
 *
 * @module
 */
import * as crypto from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * Encodes bytes as base32 without padding (callers keep a prefix of it).
 *
 * @param bytes the bytes
 * @returns upper-case base32
 * @example base32(new TextEncoder().encode('f')) // 'MY'
 */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * sha256 of a text: the one-shot `crypto.hash` where Node has it (20.12+; about twice as fast as a Hash
 * object for short texts, and a full plan hashes one name per service port), else `createHash`.
 */
const sha256: (text: string) => Uint8Array =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'buffer')
    : (text) => crypto.createHash('sha256').update(text).digest();

/**
 * The first characters of base32(sha256(text)), as upstream's chain-name hashes.
 *
 * @param text what is hashed (a service port or endpoint name)
 * @param length how many characters to keep
 * @returns the hash prefix
 * @example sha256Base32('ns1/svc1/tcp/p80', 8) // 'ULMVA6XW'
 */
export function sha256Base32(text: string, length: number): string {
  // Only the bytes those characters are made of (5 bits each) are encoded: 5 of the 32 for 8 characters.
  const bytes = sha256(text).subarray(0, Math.ceil((length * 5) / 8));
  return base32(bytes).slice(0, length);
}
