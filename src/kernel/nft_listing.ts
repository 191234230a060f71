/**
 * What `nft -j list ...` says about a table, as small typed values the nftables applier diffs against:
 * which chains exist (base chains with their hook), how many rules each holds, which sets and verdict
 * maps exist and their elements, keys and values written as kproxy's scripts write them
 * (`172.30.0.41 . tcp . 80`, `goto service-...`). Rule expressions are not translated back to nft
 * syntax: the applier replaces a chain's rules as a whole and never needs to read them.
 *
 * The JSON schema is nft's (`json_schema_version` 1, nft 1.0.x); an object kproxy does not read
 * (flowtables, counters, ...) is skipped, a shape it does read but cannot understand is an
 * {@link NftParseError}.
 *
 * @module
 */
import { KproxyError } from '../contracts/errors.ts';

/** An nftables family of kproxy's tables: `ip` (IPv4) or `ip6` (IPv6). */
export type NftFamily = 'ip' | 'ip6';

/** A table as `nft list tables` names it. */
export interface NftTableName {
  /** The family as nft prints it (other programs' tables may be `inet`, `arp`, `bridge`, ...). */
  readonly family: string;
  readonly name: string;
}

/** What makes a chain a base chain: where it hooks into the packet path. */
export interface NftBaseChainHook {
  /** `filter`, `nat` or `route`. */
  readonly type: string;
  /** `prerouting`, `input`, `forward`, `output` or `postrouting`. */
  readonly hook: string;
  /** The priority as a number (`dstnat` is -100). */
  readonly priority: number;
  /** `accept` or `drop`. */
  readonly policy: string;
}

/** A chain as listed without its rules (`nft -j list chains`). */
export interface NftChainInfo {
  readonly name: string;
  /** Set for a base chain, undefined for a regular one. */
  readonly base: NftBaseChainHook | undefined;
}

/** A chain as listed with its table. */
export interface NftListedChain extends NftChainInfo {
  /** How many rules it holds. */
  readonly rules: number;
}

/** One element of a set or map. */
export interface NftListedElement {
  /** The key's parts as the script writes them: `['172.30.0.41', 'tcp', '80']`, `['10.0.0.0/8']`. */
  readonly key: readonly string[];
  /**
   * A verdict map's verdict (`goto service-...`, `drop`), a data map's value (`10.180.0.1 . 80`);
   * undefined for a set element.
   */
  readonly value: string | undefined;
  readonly comment: string | undefined;
}

/** A named set or verdict map. */
export interface NftListedContainer {
  readonly kind: 'set' | 'map';
  readonly name: string;
  /** The key's concatenated types: `['ipv4_addr', 'inet_proto', 'inet_service']`. */
  readonly keyType: readonly string[];
  /** A map's value type (`verdict`); undefined for a set. */
  readonly valueType: string | undefined;
  /** The default timeout of a set with `flags timeout`, in seconds. */
  readonly timeoutSeconds: number | undefined;
  readonly comment: string | undefined;
  /** Sorted by key text, so that two listings of the same contents are equal. */
  readonly elements: readonly NftListedElement[];
}

/** A table with everything in it (`nft -j list table`). */
export interface NftTableState {
  readonly family: NftFamily;
  readonly name: string;
  /** By name, in name order. */
  readonly chains: ReadonlyMap<string, NftListedChain>;
  /** Sets and maps by name (one namespace in nftables), in name order. */
  readonly containers: ReadonlyMap<string, NftListedContainer>;
}

/** `nft -j` printed something kproxy cannot read. */
export class NftParseError extends KproxyError {
  override readonly name = 'NftParseError';
  override readonly code = 'KPROXY_NFT_PARSE';
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { readonly [key: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(what: string, v: unknown): NftParseError {
  const text = JSON.stringify(v) ?? String(v);
  return new NftParseError(
    `Cannot read nft's JSON: ${what}: ${text.length > 200 ? `${text.slice(0, 200)}...` : text}`,
  );
}

function str(o: JsonObject, field: string): string {
  const v = o[field];
  if (typeof v !== 'string') throw bad(`no string "${field}"`, o);
  return v;
}

function optionalStr(o: JsonObject, field: string): string | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw bad(`"${field}" is not a string`, o);
  return v;
}

/**
 * The objects of an `nft -j` answer, each as its one kind and body (`{ chain: {...} }` → `['chain', {...}]`).
 *
 * @param json the standard output of `nft -j list ...`
 * @returns the objects in order, metainfo included
 * @throws {NftParseError} when it is not nft's JSON
 * @example nftObjects('{"nftables":[{"table":{"family":"ip","name":"t","handle":1}}]}') // [['table', {...}]]
 */
function nftObjects(json: string): [string, JsonObject][] {
  let doc: Json;
  try {
    doc = JSON.parse(json) as Json;
  } catch (error) {
    throw new NftParseError(`Cannot read nft's JSON: ${(error as Error).message}`, { cause: error });
  }
  const list = isObject(doc) ? doc['nftables'] : undefined;
  if (!Array.isArray(list)) throw bad('no "nftables" array', doc);
  return list.map((item) => {
    const keys = isObject(item) ? Object.keys(item) : [];
    const body = isObject(item) ? item[keys[0] ?? ''] : undefined;
    if (keys.length !== 1 || !isObject(body)) throw bad('not an object of one kind', item);
    return [keys[0]!, body];
  });
}

/** One part of an element's key as the script writes it. */
function keyPart(v: Json): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (isObject(v)) {
    const prefix = v['prefix'];
    if (isObject(prefix)) return `${str(prefix, 'addr')}/${String(prefix['len'])}`;
    const range = v['range'];
    if (Array.isArray(range) && range.length === 2) return `${keyPart(range[0]!)}-${keyPart(range[1]!)}`;
  }
  throw bad('an element key part kproxy does not read', v);
}

/**
 * A map value as the script writes it: a verdict (`{"goto": {"target": "x"}}` → `goto x`, `{"drop": null}`
 * → `drop`) or data (`{"concat": ["10.180.0.1", 80]}` → `10.180.0.1 . 80`).
 */
function verdictText(v: Json): string {
  if (isObject(v) && Array.isArray(v['concat'])) return v['concat'].map(keyPart).join(' . ');
  if (isObject(v)) {
    const keys = Object.keys(v);
    const kind = keys[0];
    if (keys.length === 1 && kind !== undefined) {
      const body = v[kind];
      if ((kind === 'jump' || kind === 'goto') && isObject(body)) return `${kind} ${str(body, 'target')}`;
      if (body === null) return kind;
    }
  }
  if (typeof v === 'string') return v;
  throw bad('a map value kproxy does not read', v);
}

/** An element's key: `{"concat": [...]}`, `{"elem": {"val": ..., "comment": ...}}` or one value. */
function elementKey(v: Json): { key: string[]; comment: string | undefined } {
  if (isObject(v) && isObject(v['elem'])) {
    const inner = v['elem'];
    const val = inner['val'];
    if (val === undefined) throw bad('an element without "val"', v);
    return { key: elementKey(val).key, comment: optionalStr(inner, 'comment') };
  }
  if (isObject(v) && Array.isArray(v['concat'])) return { key: v['concat'].map(keyPart), comment: undefined };
  return { key: [keyPart(v)], comment: undefined };
}

function element(kind: 'set' | 'map', v: Json): NftListedElement {
  if (kind === 'map') {
    if (!Array.isArray(v) || v.length !== 2) throw bad('a map element that is not [key, value]', v);
    return { ...elementKey(v[0]!), value: verdictText(v[1]!) };
  }
  return { ...elementKey(v), value: undefined };
}

/** The text an element's key is sorted by (and that a diff can key on). */
export function elementKeyText(e: Pick<NftListedElement, 'key'>): string {
  return e.key.join(' . ');
}

/**
 * One set or map of a listing.
 *
 * @param kind `set` or `map`, as the object's kind in the listing
 * @param o the object's body
 * @returns the container, elements sorted by key text
 * @throws {NftParseError} when a field kproxy reads has another shape
 */
function container(kind: 'set' | 'map', o: JsonObject): NftListedContainer {
  const type = o['type'];
  const keyType = typeof type === 'string' ? [type] : Array.isArray(type) ? type : undefined;
  if (keyType === undefined || !keyType.every((t) => typeof t === 'string')) throw bad('a set type', o);
  const timeout = o['timeout'];
  if (timeout !== undefined && typeof timeout !== 'number') throw bad('a set timeout', o);
  const elem = o['elem'] ?? [];
  if (!Array.isArray(elem)) throw bad('set elements that are not an array', o);
  const elements = elem.map((e) => element(kind, e));
  elements.sort((a, b) => compareText(elementKeyText(a), elementKeyText(b)));
  return {
    kind,
    name: str(o, 'name'),
    keyType: keyType as string[],
    valueType: kind === 'map' ? str(o, 'map') : undefined,
    timeoutSeconds: timeout,
    comment: optionalStr(o, 'comment'),
    elements,
  };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function chainInfo(o: JsonObject): NftChainInfo {
  const hook = optionalStr(o, 'hook');
  if (hook === undefined) return { name: str(o, 'name'), base: undefined };
  const priority = o['prio'];
  if (typeof priority !== 'number') throw bad('a base chain priority', o);
  return {
    name: str(o, 'name'),
    base: { type: str(o, 'type'), hook, priority, policy: optionalStr(o, 'policy') ?? 'accept' },
  };
}

function inTable(o: JsonObject, family: string, table: string, tableField = 'table'): boolean {
  return o['family'] === family && o[tableField] === table;
}

function byName<T extends { readonly name: string }>(items: readonly T[]): Map<string, T> {
  return new Map([...items].sort((a, b) => compareText(a.name, b.name)).map((i) => [i.name, i]));
}

/**
 * Reads `nft -j list table FAMILY NAME`.
 *
 * @param json its standard output
 * @param family the table's family
 * @param name the table's name
 * @returns the table's chains (with rule counts), sets and maps (with elements)
 * @throws {NftParseError} when it is not a listing of that table
 * @example parseTableListing(stdout, 'ip', 'kube-proxy').chains.has('services')
 */
export function parseTableListing(json: string, family: NftFamily, name: string): NftTableState {
  const objects = nftObjects(json);
  if (!objects.some(([kind, o]) => kind === 'table' && inTable(o, family, name, 'name'))) {
    throw bad(`no table ${family} ${name}`, json.slice(0, 200));
  }
  const chains: NftChainInfo[] = [];
  const containers: NftListedContainer[] = [];
  const rules = new Map<string, number>();
  for (const [kind, o] of objects) {
    if ((kind === 'chain' || kind === 'set' || kind === 'map') && !inTable(o, family, name)) continue;
    if (kind === 'chain') chains.push(chainInfo(o));
    else if (kind === 'set' || kind === 'map') containers.push(container(kind, o));
    else if (kind === 'rule' && inTable(o, family, name)) {
      const chain = str(o, 'chain');
      rules.set(chain, (rules.get(chain) ?? 0) + 1);
    }
  }
  return {
    family,
    name,
    chains: byName(chains.map((c) => ({ ...c, rules: rules.get(c.name) ?? 0 }))),
    containers: byName(containers),
  };
}

/**
 * Reads `nft -j list chains FAMILY`: the chains of one table, without rules.
 *
 * @param json its standard output
 * @param family the table's family
 * @param table the table's name
 * @returns the table's chains in name order (none when the table does not exist)
 * @throws {NftParseError} when it is not nft's JSON
 * @example parseChainsListing(stdout, 'ip', 'kube-proxy').map((c) => c.name)
 */
export function parseChainsListing(json: string, family: NftFamily, table: string): NftChainInfo[] {
  const chains = nftObjects(json)
    .filter(([kind, o]) => kind === 'chain' && inTable(o, family, table))
    .map(([, o]) => chainInfo(o));
  return [...byName(chains).values()];
}

/**
 * Reads `nft -j list set|map FAMILY TABLE NAME`.
 *
 * @param json its standard output
 * @param kind `set` or `map`
 * @returns the set or map with its elements
 * @throws {NftParseError} when the listing holds no such object
 * @example parseContainerListing(stdout, 'map').elements.length
 */
export function parseContainerListing(json: string, kind: 'set' | 'map'): NftListedContainer {
  const found = nftObjects(json).find(([k]) => k === kind);
  if (found === undefined) throw bad(`no ${kind}`, json.slice(0, 200));
  return container(kind, found[1]);
}

/**
 * Reads `nft -j list tables`.
 *
 * @param json its standard output
 * @returns every table, kproxy's and other programs', in listing order
 * @throws {NftParseError} when it is not nft's JSON
 * @example parseTablesListing(stdout).some((t) => t.name === 'kube-proxy')
 */
export function parseTablesListing(json: string): NftTableName[] {
  return nftObjects(json)
    .filter(([kind]) => kind === 'table')
    .map(([, o]) => ({ family: str(o, 'family'), name: str(o, 'name') }));
}

/**
 * Reads `nft -j list chain FAMILY TABLE CHAIN`: how many rules the chain holds.
 *
 * @param json its standard output
 * @param family the table's family
 * @param table the table's name
 * @param chain the chain's name
 * @returns the number of rules
 * @throws {NftParseError} when it is not nft's JSON
 * @example countChainRules(stdout, 'ip', 'kube-proxy', 'services') // 2
 */
export function countChainRules(json: string, family: NftFamily, table: string, chain: string): number {
  let rules = 0;
  for (const [kind, o] of nftObjects(json)) {
    if (kind === 'rule' && inTable(o, family, table) && str(o, 'chain') === chain) rules++;
  }
  return rules;
}
