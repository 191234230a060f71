/**
 * The nftables objects a plan is made of, as plain data: chains with structured rules, sets and verdict
 * maps with their elements. Rules are values, not text, so that the tracer can walk them without parsing
 * nft syntax and the applier can diff two plans object by object; rule_text.ts prints them.
 *
 * Only the expressions kproxy writes exist here (upstream's nftables proxier uses the same few), each a
 * discriminated union with a `never` check wherever it is consumed.
 *
 * @module
 */

/** The nftables address family of a table: `ip` (IPv4) or `ip6` (IPv6), one plan per family. */
export type NftFamily = 'ip' | 'ip6';

/** Layer-4 protocols as nft spells them. */
export type NftProtocol = 'tcp' | 'udp' | 'sctp';

/** The netfilter hooks kproxy's base chains attach to. */
export type NftHook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';

/** Which packet field an address match or a `fib` lookup looks at. */
export type NftAddressField = 'saddr' | 'daddr';

/** The right-hand side of an address match. */
export type NftAddressOperand =
  /** One address or CIDR (`10.0.0.0/8`), or an anonymous set of them when there are several (`{ a, b }`). */
  | { readonly kind: 'prefixes'; readonly prefixes: readonly string[] }
  /** A named set (`@cluster-ips`). */
  | { readonly kind: 'set'; readonly set: string };

/** A condition of a rule; all of a rule's matches must hold. */
export type NftMatch =
  /** `ct state new`: the first packet of a connection. */
  | { readonly kind: 'ct-state-new' }
  /** `ip saddr|daddr [!=] OPERAND`. */
  | {
      readonly kind: 'address';
      readonly field: NftAddressField;
      readonly negated: boolean;
      readonly operand: NftAddressOperand;
    }
  /**
   * `iifname [!=] "NAME"`, or `"PREFIX*"` with `wildcard`: the packet came in on that interface (local
   * traffic by `--detect-local-mode` BridgeInterface or InterfaceNamePrefix; the name is validated).
   */
  | {
      readonly kind: 'input-interface';
      readonly negated: boolean;
      readonly name: string;
      readonly wildcard: boolean;
    }
  /** `fib saddr|daddr type local`: the address is one of this host's. */
  | { readonly kind: 'fib-local'; readonly field: NftAddressField }
  /** `mark and MARK == 0`: the masquerade bit is not set. */
  | { readonly kind: 'mark-unset'; readonly mark: string }
  /** `ct status dnat`: a service's DNAT translated the connection's destination. */
  | { readonly kind: 'ct-status-dnat' }
  /** `ip saddr . ip daddr @SET`: the source and the (translated) destination, as a pair, are in a set. */
  | { readonly kind: 'address-pair'; readonly set: string }
  /** `PROTO dport PORT`: the packet's transport protocol and (untranslated) destination port. */
  | { readonly kind: 'destination-port'; readonly protocol: NftProtocol; readonly port: number };

/** A non-terminal statement: it acts and evaluation goes on. */
export type NftStatement =
  /** `mark set mark or MARK`. */
  | { readonly kind: 'mark-or'; readonly mark: string }
  /** `mark set mark xor MARK`. */
  | { readonly kind: 'mark-xor'; readonly mark: string }
  /** `update @SET { ip saddr }`: record the client for session affinity (with the set's timeout). */
  | { readonly kind: 'update-source'; readonly set: string };

/** A verdict, in a rule or as the value of a verdict-map element. */
export type NftVerdict =
  | { readonly kind: 'jump'; readonly chain: string }
  | { readonly kind: 'goto'; readonly chain: string }
  | { readonly kind: 'return' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'reject' };

/** What a verdict map is keyed by. */
export type NftDispatchKey =
  /** `ip daddr . meta l4proto . th dport`. */
  | 'destination'
  /** `meta l4proto . th dport`. */
  | 'port';

/** How a rule ends, when it ends in something. */
export type NftAction =
  | NftVerdict
  /** `KEY vmap @MAP`: the verdict of the matching element, or nothing (next rule) when none matches. */
  | { readonly kind: 'vmap'; readonly key: NftDispatchKey; readonly map: string }
  /** `numgen random mod N vmap { 0 : goto C0 , ... }`: one of the chains, each equally likely. */
  | { readonly kind: 'numgen'; readonly chains: readonly string[] }
  /** `meta l4proto PROTO dnat to ADDRESS:PORT`. */
  | { readonly kind: 'dnat'; readonly protocol: NftProtocol; readonly address: string; readonly port: number }
  /**
   * `meta l4proto PROTO dnat ip to numgen random mod COUNT offset OFFSET map @MAP`: one of the endpoints
   * the map holds under keys OFFSET .. OFFSET+COUNT-1, each equally likely (no match: the next rule).
   */
  | {
      readonly kind: 'dnat-map';
      readonly protocol: NftProtocol;
      readonly count: number;
      readonly offset: number;
      readonly map: string;
      /** The port for a map of addresses (`... map @MAP : PORT`); undefined for a map of pairs. */
      readonly port: number | undefined;
    }
  /** `masquerade fully-random`. */
  | { readonly kind: 'masquerade' };

/** One rule: matches, then statements, then an action, then a comment. */
export interface NftRule {
  readonly matches: readonly NftMatch[];
  readonly statements: readonly NftStatement[];
  readonly action: NftAction | undefined;
  /** Already safe for nft (see names.ts); undefined for none. */
  readonly comment: string | undefined;
}

/** A regular chain: only reached by a jump, a goto or a verdict map. */
export interface NftChain {
  readonly name: string;
  readonly comment: string | undefined;
  readonly rules: readonly NftRule[];
}

/** A base chain, attached to a hook. */
export interface NftBaseChain extends NftChain {
  readonly type: 'filter' | 'nat';
  readonly hook: NftHook;
  /** Lower runs first; dstnat is -100, srcnat 100. */
  readonly priority: number;
}

/** The data types kproxy's sets and maps are keyed by. */
export type NftKeyType = 'ipv4_addr' | 'ipv6_addr' | 'inet_proto' | 'inet_service';

/** An endpoint, as the value of an endpoint-map element (`10.180.0.1 . 80`). */
export interface NftEndpoint {
  readonly address: string;
  /** Undefined in a map of addresses (`endpoint-ips-`), whose rules name the port. */
  readonly port: number | undefined;
}

/** A set or map element; `key` has one value per key type (`['172.30.0.41', 'tcp', '80']`). */
export interface NftElement {
  readonly key: readonly string[];
  /** Set for verdict-map elements, undefined for the others. */
  readonly verdict: NftVerdict | undefined;
  /** Set for endpoint-map elements, undefined for the others. */
  readonly endpoint: NftEndpoint | undefined;
  readonly comment: string | undefined;
}

/** What a named set or map is declared with. */
interface NftContainerBase {
  readonly name: string;
  readonly comment: string | undefined;
  /** Sorted by key (see compareElementKeys), so two plans diff element by element. */
  readonly elements: readonly NftElement[];
}

/** A named set. */
export interface NftSet extends NftContainerBase {
  readonly kind: 'set';
  /** Concatenated key types (`ipv4_addr . ipv4_addr`). */
  readonly keyType: readonly NftKeyType[];
  /** Session-affinity sets: entries added by the packet path, each expiring after `timeoutSeconds`. */
  readonly timeoutSeconds: number | undefined;
}

/** A named verdict map (`KEY : verdict`). */
export interface NftMap extends NftContainerBase {
  readonly kind: 'map';
  /** Concatenated key types (`ipv4_addr . inet_proto . inet_service`). */
  readonly keyType: readonly NftKeyType[];
}

/**
 * A named map from a number to an endpoint address (`typeof numgen random mod 1 : ip daddr`), or to an
 * address and port of one protocol (`... : ip daddr . tcp dport`, for chains whose endpoints listen on
 * different ports): where the `dnat-map` action of many service ports' chains picks their endpoints,
 * each chain under its own range of keys (endpoint_slots.ts).
 */
export interface NftEndpointMap extends NftContainerBase {
  readonly kind: 'endpoint-map';
  readonly protocol: NftProtocol;
  /** True when it holds `ADDRESS . PORT` pairs, false for addresses alone. */
  readonly withPorts: boolean;
}

/** A named set, verdict map or endpoint map. */
export type NftContainer = NftSet | NftMap | NftEndpointMap;

/**
 * The nft object kind of a container, as `add`, `flush` and `delete` name it.
 *
 * @param c the container
 * @returns `set` or `map`
 * @example containerObject({ kind: 'endpoint-map', ... }) // 'map'
 */
export function containerObject(c: Pick<NftContainer, 'kind'>): 'set' | 'map' {
  return c.kind === 'set' ? 'set' : 'map';
}

/**
 * Builds a rule; the parts a rule does not have are left out.
 *
 * @param parts its matches, statements, action and comment
 * @returns the rule
 * @example rule({ action: { kind: 'jump', chain: 'services' } })
 */
export function rule(parts: {
  readonly matches?: readonly NftMatch[];
  readonly statements?: readonly NftStatement[];
  readonly action?: NftAction;
  readonly comment?: string;
}): NftRule {
  return {
    matches: parts.matches ?? [],
    statements: parts.statements ?? [],
    action: parts.action,
    comment: parts.comment,
  };
}

function compareKeyPart(a: string, b: string): number {
  const na = dottedNumber(a);
  const nb = dottedNumber(b);
  if (na !== undefined && nb !== undefined) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A port or an IPv4 address as one number (so that 9 < 10 and 10.0.0.9 < 10.0.0.10); else undefined. */
function dottedNumber(text: string): number | undefined {
  if (!/^\d{1,10}(\.\d{1,3}){0,3}$/.test(text)) return undefined;
  const parts = text.split('.').map(Number);
  if (parts.length === 1) return parts[0];
  if (parts.length !== 4) return undefined;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

/**
 * Orders element keys part by part, numbers and addresses numerically.
 *
 * @param a one key
 * @param b another key
 * @returns negative, zero or positive
 * @example compareElementKeys(['10.0.0.9', 'tcp', '80'], ['10.0.0.10', 'tcp', '80']) // < 0
 */
export function compareElementKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareKeyPart(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}
