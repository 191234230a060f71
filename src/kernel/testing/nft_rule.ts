/**
 * A rule body of kproxy's dialect (`ip daddr . meta l4proto . th dport vmap @service-ips`,
 * `numgen random mod 2 vmap { 0 : goto a , 1 : goto b }`, `meta l4proto tcp dnat to 10.0.0.1:80`,
 * `meta l4proto tcp dnat ip to numgen random mod 2 offset 0 map @endpoints-tcp-0`, ...),
 * read by the strict fake: every expression is checked as nft checks it (selectors, values of their type,
 * a named set's or map's key type, a verdict map where one is needed, the transport match a `dnat` port
 * needs, a comment's length), and what the rule refers to is returned (chains it jumps to, sets and maps
 * it reads or updates, NAT statements), so that the ruleset can refuse a missing target and count
 * references as the kernel does. An expression the fake does not model is refused as unsupported.
 *
 * @module
 */
import type { NftFamily } from '../nft_listing.ts';
import { NftRefusal, type NftToken, TokenCursor, unexpected, unsupported } from './nft_script.ts';
import { addressType, type NftKeyType, parseKey, parseValue, parseVerdict } from './nft_values.ts';

/** A statement that only some hooks of `nat` chains allow. */
export type NatStatement = 'dnat' | 'snat' | 'masquerade';

/** A named set or map as a rule sees it. */
export interface RuleContainerShape {
  readonly kind: 'set' | 'map';
  readonly keyType: readonly NftKeyType[];
  readonly valueType: string | undefined;
  /** The transport protocol a `typeof ... : ip daddr . PROTO dport` map's value was declared with. */
  readonly dataProtocol: string | undefined;
}

/** What a rule may look up in its table; each throws {@link NftRefusal} when nft would refuse. */
export interface RuleLookups {
  readonly family: NftFamily;
  /** A `jump`/`goto` target: it must exist and be no base chain. */
  chain(at: NftToken): void;
  /** A named set or map (`@name`, without the `@`). */
  container(at: NftToken, name: string): RuleContainerShape;
}

/** A rule as the fake keeps it. */
export interface ParsedRule {
  /** The rule as written (tokens joined by one space, strings quoted). */
  readonly text: string;
  /** Chains it jumps or goes to (an anonymous vmap's included), each once. */
  readonly chains: readonly string[];
  /** Named sets and maps it reads, each once. */
  readonly containers: readonly string[];
  /** Named sets it updates from the packet path (`update @set { ... }`); the kernel marks them dynamic. */
  readonly updates: readonly string[];
  readonly nat: readonly NatStatement[];
  readonly comment: string | undefined;
}

/** Payload and meta selectors, with the type of what they select. */
const SELECTORS: Readonly<Record<string, Readonly<Record<string, NftKeyType>>>> = {
  ip: { saddr: 'ipv4_addr', daddr: 'ipv4_addr' },
  ip6: { saddr: 'ipv6_addr', daddr: 'ipv6_addr' },
  meta: { l4proto: 'inet_proto', mark: 'mark' },
  th: { sport: 'inet_service', dport: 'inet_service' },
  tcp: { sport: 'inet_service', dport: 'inet_service' },
  udp: { sport: 'inet_service', dport: 'inet_service' },
  sctp: { sport: 'inet_service', dport: 'inet_service' },
};
const CT_STATES = new Set(['new', 'established', 'related', 'invalid', 'untracked']);
const CT_STATUSES = new Set(['expected', 'seen-reply', 'assured', 'confirmed', 'snat', 'dnat', 'dying']);
const FIB_TYPES = new Set([
  'local',
  'unicast',
  'broadcast',
  'multicast',
  'blackhole',
  'unreachable',
  'prohibit',
]);

/** One selector: its type, and whether it is a transport-protocol match (`meta l4proto`, `tcp ...`). */
interface Selector {
  readonly type: NftKeyType;
  readonly transport: boolean;
}

function selector(c: TokenCursor, family: NftFamily): Selector {
  const head = c.next();
  if (head.text === 'mark') return { type: 'mark', transport: false };
  const fields = SELECTORS[head.text];
  if (fields === undefined || head.kind !== 'word') throw unexpected(head, head);
  if ((head.text === 'ip' || head.text === 'ip6') && head.text !== family) {
    throw unsupported(head, `${head.text} selector in a table of family ${family}`);
  }
  const field = c.next();
  const type = fields[field.text];
  if (type === undefined) throw unexpected(field, field);
  return { type, transport: ['tcp', 'udp', 'sctp'].includes(head.text) || field.text === 'l4proto' };
}

function sameTypes(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

function typeMismatch(at: NftToken, expected: readonly string[], actual: readonly string[]): NftRefusal {
  const text = (types: readonly string[]) =>
    types.length === 1 ? types[0]! : `concatenation of (${types.join(', ')})`;
  return new NftRefusal(
    at,
    `datatype mismatch, expected ${text(expected)}, expression has type ${text(actual)}`,
  );
}

/** `@name` → name. */
function containerName(t: NftToken): string {
  if (t.kind !== 'word' || !t.text.startsWith('@') || t.text.length === 1) throw unexpected(t, t);
  return t.text.slice(1);
}

/** Reads a rule; see the module. */
class RuleReader {
  readonly #c: TokenCursor;
  readonly #lookups: RuleLookups;
  readonly #chains = new Set<string>();
  readonly #containers = new Set<string>();
  readonly #updates = new Set<string>();
  readonly #nat: NatStatement[] = [];
  #transport = false;
  /** The protocol of a `meta l4proto PROTO` match, for a map value's `PROTO dport`. */
  #protocol: string | undefined;

  constructor(body: readonly NftToken[], lookups: RuleLookups) {
    this.#c = new TokenCursor(body);
    this.#lookups = lookups;
  }

  read(): ParsedRule {
    const c = this.#c;
    let comment: string | undefined;
    let terminal = false;
    while (!c.done) {
      if (c.accept('comment') !== undefined) {
        comment = c.comment();
        c.end();
        break;
      }
      if (terminal) throw unexpected(c.peek(), c.last);
      terminal = this.#item();
    }
    return {
      text: c.tokens.map((t) => (t.kind === 'string' ? `"${t.text}"` : t.text)).join(' '),
      chains: [...this.#chains],
      containers: [...this.#containers],
      updates: [...this.#updates],
      nat: this.#nat,
      comment,
    };
  }

  /** One expression or statement; true when it ends the rule (a verdict, NAT, reject, a vmap). */
  #item(): boolean {
    const c = this.#c;
    const t = c.peek()!;
    switch (t.text) {
      case 'counter':
        c.next();
        return false;
      case 'accept':
      case 'drop':
      case 'continue':
      case 'return':
      case 'jump':
      case 'goto':
        this.#verdict();
        return true;
      case 'reject':
        c.next();
        if (c.peek()?.text === 'with') throw unsupported(c.peek()!, 'reject with');
        return true;
      case 'masquerade':
        c.next();
        c.accept('fully-random', 'random', 'persistent');
        this.#nat.push('masquerade');
        return true;
      case 'dnat':
      case 'snat':
        this.#nat.push(this.#natTo());
        return true;
      case 'numgen':
        this.#numgen();
        return true;
      case 'update':
        this.#update();
        return false;
      case 'fib':
        this.#fib();
        return false;
      case 'ct':
        this.#ctState();
        return false;
      case 'iifname':
        this.#interfaceName();
        return false;
      default:
        return this.#selectorExpression();
    }
  }

  #verdict(): void {
    const v = parseVerdict(this.#c);
    if (v.target === undefined) return;
    this.#lookups.chain(v.target);
    this.#chains.add(v.target.text);
  }

  #natTo(): NatStatement {
    const c = this.#c;
    const kind = c.next().text as 'dnat' | 'snat';
    c.accept(this.#lookups.family);
    c.expect('to');
    if (c.peek()?.text === 'numgen') {
      this.#natToMap();
      return kind;
    }
    const to = c.next();
    // IPv6 takes its port only after brackets: nft reads `fd00::1:80` as the address fd00::1:80.
    const m =
      this.#lookups.family === 'ip'
        ? /^([^:[\]]+)(?::(\d+))?$/.exec(to.text)
        : (/^\[(.+)\](?::(\d+))?$/.exec(to.text) ?? /^([^[\]]+)()$/.exec(to.text));
    const address = m?.[1];
    if (m === null || address === undefined) throw unexpected(to, to);
    parseValue(addressType(this.#lookups.family), { ...to, text: address }, false);
    const port = m[2] === '' ? undefined : m[2];
    if (port !== undefined) {
      if (!this.#transport) {
        throw new NftRefusal(to, 'transport protocol mapping is only valid after transport protocol match');
      }
      if (Number(port) > 65535) throw new NftRefusal(to, 'Service out of range');
    }
    return kind;
  }

  /**
   * `numgen random mod N [offset K] map @MAP` after `dnat ip to`: an address and a port from a map of
   * pairs, or an address from a map of addresses, then optionally `: PORT`.
   */
  #natToMap(): void {
    const c = this.#c;
    const head = c.expect('numgen');
    c.expect('random', 'inc');
    c.expect('mod');
    const mod = c.next();
    if (!/^[1-9]\d*$/.test(mod.text)) throw unexpected(mod, mod);
    if (c.accept('offset') !== undefined) parseValue('integer', c.next(), false);
    c.expect('map');
    const at = c.next();
    const name = containerName(at);
    const shape = this.#lookups.container(at, name);
    const address = addressType(this.#lookups.family);
    const pairs = `${address} . inet_service`;
    if (shape.kind !== 'map' || shape.valueType === 'verdict')
      throw new NftRefusal(at, 'Expression is not a map');
    if (
      !sameTypes(shape.keyType, ['integer']) ||
      (shape.valueType !== pairs && shape.valueType !== address)
    ) {
      throw new NftRefusal(
        at,
        `datatype mismatch, map expects ${shape.keyType.join(' . ')}, mapping expression has type integer`,
      );
    }
    const port = c.accept(':');
    if (port !== undefined) {
      // A map of pairs brings its port already.
      if (shape.valueType === pairs) throw unexpected(port, port);
      const value = c.next();
      if (!/^\d+$/.test(value.text)) throw unexpected(value, value);
      if (Number(value.text) > 65535) throw new NftRefusal(value, 'Service out of range');
    }
    if ((shape.valueType === pairs || port !== undefined) && !this.#transport) {
      throw new NftRefusal(
        [head, at],
        'transport protocol mapping is only valid after transport protocol match',
      );
    }
    if (
      this.#protocol !== undefined &&
      shape.dataProtocol !== undefined &&
      this.#protocol !== shape.dataProtocol
    ) {
      // nft names the map's declaration; the fake, which may not have it in this script, the rule's reference.
      throw new NftRefusal(
        at,
        `conflicting protocols specified: ${this.#protocol} vs. ${shape.dataProtocol}`,
      );
    }
    this.#containers.add(name);
  }

  #numgen(): void {
    const c = this.#c;
    c.expect('numgen');
    c.expect('random', 'inc');
    c.expect('mod');
    const mod = c.next();
    if (!/^[1-9]\d*$/.test(mod.text)) throw unexpected(mod, mod);
    if (c.accept('offset') !== undefined && !/^\d+$/.test(c.next().text)) throw unexpected(c.last, c.last);
    if (c.peek()?.text !== 'vmap') throw unsupported(c.peek() ?? mod, 'numgen without vmap');
    c.expect('vmap');
    this.#anonymousVmap((key) => {
      if (key.length !== 1 || !/^\d+$/.test(key[0]!.text)) throw unexpected(key[0], key[0]!);
    });
  }

  /** `{ KEY : VERDICT , ... }`, each key checked by `checkKey`. */
  #anonymousVmap(checkKey: (key: NftToken[]) => void): void {
    const c = this.#c;
    c.expect('{');
    for (;;) {
      const key: NftToken[] = [];
      while (c.peek() !== undefined && c.peek()!.text !== ':') key.push(c.next());
      if (key.length === 0) throw unexpected(c.peek(), c.last);
      checkKey(key);
      c.expect(':');
      this.#verdict();
      if (c.accept('}') !== undefined) return;
      c.expect(',');
    }
  }

  #update(): void {
    const c = this.#c;
    c.expect('update');
    const at = c.next();
    const name = containerName(at);
    c.expect('{');
    const types = [selector(c, this.#lookups.family).type];
    while (c.accept('.') !== undefined) types.push(selector(c, this.#lookups.family).type);
    c.expect('}');
    const shape = this.#lookups.container(at, name);
    if (shape.kind !== 'set') throw unsupported(at, 'update of a map');
    if (!sameTypes(shape.keyType, types)) throw typeMismatch(at, shape.keyType, types);
    this.#containers.add(name);
    this.#updates.add(name);
  }

  /** `iifname [== | !=] "NAME"` (a trailing `*` matches every name with that prefix). */
  #interfaceName(): void {
    const c = this.#c;
    c.expect('iifname');
    c.accept('==', '!=');
    const name = c.next();
    // nft takes up to 16 bytes (the kernel's IFNAMSIZ); kproxy's names are checked to 15 before.
    if (name.text.length > 16) throw new NftRefusal(name, 'String exceeds maximum length of 16');
    const text = name.text.endsWith('*') ? name.text.slice(0, -1) : name.text;
    if (text === '' || text.includes('*')) throw unexpected(name, name);
  }

  #fib(): void {
    const c = this.#c;
    c.expect('fib');
    c.expect('saddr', 'daddr');
    if (c.peek()?.text === '.') throw unsupported(c.peek()!, 'fib with iif or oif');
    c.expect('type');
    c.accept('==', '!=');
    const type = c.next();
    if (!FIB_TYPES.has(type.text)) throw unexpected(type, type);
  }

  /** `ct state S[,S...]` or `ct status S[,S...]`. */
  #ctState(): void {
    const c = this.#c;
    c.expect('ct');
    const values = c.expect('state', 'status').text === 'state' ? CT_STATES : CT_STATUSES;
    c.accept('==', '!=');
    do {
      const value = c.next();
      if (!values.has(value.text)) throw unexpected(value, value);
    } while (c.accept(',') !== undefined);
  }

  /** A selector (or a concatenation) compared, looked up or mapped; `mark set ...`. True for a vmap. */
  #selectorExpression(): boolean {
    const c = this.#c;
    const first = selector(c, this.#lookups.family);
    if (first.type === 'mark' && c.accept('set') !== undefined) {
      if (c.accept('mark') !== undefined) c.expect('or', 'xor', 'and');
      parseValue('mark', c.next(), false);
      return false;
    }
    const types = [first.type];
    while (c.accept('.') !== undefined) types.push(selector(c, this.#lookups.family).type);
    if (types.length === 1 && first.type === 'mark' && c.accept('and') !== undefined) {
      parseValue('mark', c.next(), false);
    }
    if (c.accept('vmap') !== undefined) {
      if (c.peek()?.text === '{') {
        this.#anonymousVmap((key) => parseKey(types, key, true));
        return true;
      }
      const at = c.next();
      const name = containerName(at);
      const shape = this.#lookups.container(at, name);
      if (shape.kind !== 'map' || shape.valueType !== 'verdict')
        throw new NftRefusal(at, 'Expression is not a map');
      if (!sameTypes(shape.keyType, types)) throw typeMismatch(at, shape.keyType, types);
      this.#containers.add(name);
      return true;
    }
    c.accept('==', '!=');
    const value = c.next();
    if (value.text.startsWith('@')) {
      const name = containerName(value);
      const shape = this.#lookups.container(value, name);
      if (shape.kind !== 'set') throw unsupported(value, 'lookup in a map');
      if (!sameTypes(shape.keyType, types)) throw typeMismatch(value, shape.keyType, types);
      this.#containers.add(name);
      return false;
    }
    if (types.length > 1) throw unsupported(value, 'comparison with a concatenation');
    if (value.kind === 'punct' && value.text === '{') {
      do parseValue(first.type, c.next(), true);
      while (c.accept(',') !== undefined);
      c.expect('}');
    } else {
      const parsed = parseValue(first.type, value, true);
      if (first.type === 'inet_proto') this.#protocol = parsed;
    }
    if (first.transport) this.#transport = true;
    return false;
  }
}

/**
 * Reads a rule body.
 *
 * @param body the tokens after `add rule FAMILY TABLE CHAIN`
 * @param lookups the table's chains and sets, as they are at this point of the transaction
 * @returns the rule and what it refers to
 * @throws {NftRefusal} where nft would refuse it
 */
export function parseRule(body: readonly NftToken[], lookups: RuleLookups): ParsedRule {
  return new RuleReader(body, lookups).read();
}
