/**
 * Values as nft reads and prints them, for the strict fake: addresses and prefixes of a family,
 * protocols, ports, marks, verdicts, and concatenated keys of a set's type. Each is checked as nft
 * checks it and returned as nft lists it (an IPv6 address compressed, a protocol number as its name).
 *
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { NftFamily } from '../nft_listing.ts';
import { NftRefusal, type NftToken, type TokenCursor, unexpected, unsupported } from './nft_script.ts';

/**
 * The key types the fake models. `integer` (32 bits) only comes from a `typeof numgen ...` declaration:
 * nft refuses it in a `type` one.
 */
export type NftKeyType = 'ipv4_addr' | 'ipv6_addr' | 'inet_proto' | 'inet_service' | 'mark' | 'integer';

const KEY_TYPES: ReadonlySet<string> = new Set<NftKeyType>([
  'ipv4_addr',
  'ipv6_addr',
  'inet_proto',
  'inet_service',
  'mark',
]);

/**
 * Checks that the fake models a set's key type.
 *
 * @param type a type of `type a . b`
 * @param at where it was written
 * @returns the type
 * @throws {NftRefusal} for a type nft has but the fake does not model, or none nft has
 */
export function keyType(type: string, at: NftToken): NftKeyType {
  if (KEY_TYPES.has(type)) return type as NftKeyType;
  if (/^(ether_addr|ifname|iface_index|ipsec_addr|ct_state|ct_status|time|day|hour|dscp|ecn)$/.test(type)) {
    throw unsupported(at, `type ${type}`);
  }
  throw new NftRefusal(at, `unknown datatype ${type}`);
}

/** The address type of a family. */
export function addressType(family: NftFamily): NftKeyType {
  return family === 'ip' ? 'ipv4_addr' : 'ipv6_addr';
}

const PROTOCOLS: Readonly<Record<string, number>> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  'ipv6-icmp': 58,
  icmpv6: 58,
  sctp: 132,
  udplite: 136,
};
const PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  1: 'icmp',
  2: 'igmp',
  6: 'tcp',
  17: 'udp',
  58: 'ipv6-icmp',
  132: 'sctp',
  136: 'udplite',
};

/** An IPv6 address as nft (inet_ntop) prints it. */
function compressIPv6(address: string): string {
  return new URL(`http://[${address}]`).hostname.slice(1, -1);
}

/** An address, or with `prefixes` also `ADDR/LEN`, checked against its family and printed as nft does. */
function addressValue(type: 'ipv4_addr' | 'ipv6_addr', t: NftToken, prefixes: boolean): string {
  const [address = '', length] = t.text.split('/');
  const v4 = type === 'ipv4_addr';
  if (v4 ? !isIPv4(address) : !isIPv6(address)) {
    const other = v4 ? isIPv6(address) : isIPv4(address);
    throw new NftRefusal(
      t,
      other
        ? 'Could not resolve hostname: Address family for hostname not supported'
        : `Could not resolve hostname: Name or service not known`,
    );
  }
  const printed = v4 ? address : compressIPv6(address);
  if (length === undefined) return printed;
  if (!prefixes) throw new NftRefusal(t, 'Set member cannot be prefix, missing interval flag on declaration');
  const bits = Number(length);
  if (!/^\d+$/.test(length) || bits > (v4 ? 32 : 128))
    throw new NftRefusal(t, 'Prefix length is out of range');
  return bits === (v4 ? 32 : 128) ? printed : `${printed}/${bits}`;
}

/**
 * One value of a type.
 *
 * @param type its type
 * @param t the token
 * @param prefixes whether an address may be a prefix (an interval set, a rule's match)
 * @returns the value as nft lists it
 * @throws {NftRefusal} when nft would not take it
 */
export function parseValue(type: NftKeyType, t: NftToken, prefixes: boolean): string {
  if (t.kind !== 'word') throw unexpected(t, t);
  switch (type) {
    case 'ipv4_addr':
    case 'ipv6_addr':
      return addressValue(type, t, prefixes);
    case 'inet_proto': {
      const n = /^\d+$/.test(t.text) ? Number(t.text) : PROTOCOLS[t.text];
      if (n === undefined) throw new NftRefusal(t, `Could not parse Internet protocol`);
      if (n > 255) throw new NftRefusal(t, 'Protocol out of range');
      return PROTOCOL_NAMES[n] ?? String(n);
    }
    case 'inet_service': {
      if (!/^\d+$/.test(t.text)) throw unsupported(t, `service name ${t.text} (kproxy writes port numbers)`);
      if (Number(t.text) > 65535) throw new NftRefusal(t, 'Service out of range');
      return String(Number(t.text));
    }
    case 'mark': {
      if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(t.text) || Number(t.text) > 0xffffffff)
        throw new NftRefusal(t, 'Could not parse mark');
      return `0x${Number(t.text).toString(16).padStart(8, '0')}`;
    }
    case 'integer': {
      if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(t.text)) throw new NftRefusal(t, 'Could not parse integer');
      if (Number(t.text) > 0xffffffff) throw new NftRefusal(t, 'Value exceeds valid range 0-4294967295');
      return String(Number(t.text));
    }
    default: {
      const never: never = type;
      return never;
    }
  }
}

/**
 * A concatenated key (`a . b . c`) of a set's type.
 *
 * @param types the set's key types
 * @param tokens the key's tokens
 * @param prefixes whether addresses may be prefixes
 * @returns the key's parts as nft lists them
 * @throws {NftRefusal} for a key of another shape or a bad value
 */
export function parseKey(
  types: readonly NftKeyType[],
  tokens: readonly NftToken[],
  prefixes: boolean,
): string[] {
  const parts: NftToken[] = [];
  for (const [i, t] of tokens.entries()) {
    if (i % 2 === 1 ? t.text !== '.' || t.kind !== 'word' : t.text === '.') throw unexpected(t, t);
    if (i % 2 === 0) parts.push(t);
  }
  if (parts.length !== types.length) {
    const at: [NftToken, NftToken] = [tokens[0]!, tokens.at(-1)!];
    throw new NftRefusal(
      at,
      `datatype mismatch, expected ${describeTypes(types)}, expression has ${parts.length} part${parts.length === 1 ? '' : 's'}`,
    );
  }
  return parts.map((t, i) => parseValue(types[i]!, t, prefixes));
}

function describeTypes(types: readonly string[]): string {
  return types.length === 1 ? types[0]! : `concatenation of (${types.join(', ')})`;
}

/** A verdict's kind and, for `jump`/`goto`, its chain. */
export interface ParsedVerdict {
  /** As nft lists it: `accept`, `drop`, `continue`, `return`, `jump X`, `goto X`. */
  readonly text: string;
  /** The chain of a `jump`/`goto`, with its token (which must exist, checked by the caller). */
  readonly target: NftToken | undefined;
}

/**
 * A verdict at the cursor (a map element's value, a rule's end, an anonymous vmap's entry).
 *
 * @param c the cursor
 * @returns the verdict
 * @throws {NftRefusal} when the next tokens are no verdict
 */
export function parseVerdict(c: TokenCursor): ParsedVerdict {
  const t = c.expect('accept', 'drop', 'continue', 'return', 'jump', 'goto');
  if (t.text !== 'jump' && t.text !== 'goto') return { text: t.text, target: undefined };
  const target = c.name();
  return { text: `${t.text} ${target.text}`, target };
}
