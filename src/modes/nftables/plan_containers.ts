/**
 * The elements of the shared sets and maps and of the endpoint maps, gathered from the service ports'
 * contributions: each container lists its *sources* (the service ports with elements in it, in key order)
 * and is built from them, the first claimant of a key winning it.
 *
 * A re-plan rebuilds only the containers a changed service port contributes to (before or after the
 * change) and keeps the others as they were (the same objects), so that a one-endpoint change at 10 000
 * service ports touches one endpoint map of 64 service ports instead of sorting 100 000 elements; and an
 * applier can skip an unchanged container by reference.
 *
 * @module
 */
import type { ServicePortKey } from '../../model/types.ts';
import { isEndpointMapName, parseEndpointMapName } from './names.ts';
import { verdictText } from './rule_text.ts';
import type { NftContainer, NftElement, NftEndpointMap } from './ruleset.ts';
import type { NftServicePort } from './service_port.ts';

/** The containers of a plan, and what a re-plan needs to rebuild only some of them. */
export interface PlannedContainers {
  /** The declared containers (in the given order), then the endpoint maps in use, by protocol and group. */
  readonly containers: readonly NftContainer[];
  /** Container name → the service ports with elements in it, in key order. */
  readonly sources: ReadonlyMap<string, readonly ServicePortKey[]>;
  /** Container name → its clashes (a key two service ports claim), as warnings. */
  readonly clashes: ReadonlyMap<string, readonly string[]>;
}

/** What a re-plan starts from. */
export interface ContainerReuse {
  readonly previous: PlannedContainers;
  /** The service ports of the previous plan. */
  readonly previousPorts: ReadonlyMap<ServicePortKey, NftServicePort>;
  /** Service ports re-planned, added or removed since (the others are the same objects). */
  readonly touched: ReadonlySet<ServicePortKey>;
}

/**
 * A part of an element key as a sort key: addresses and numbers as numbers, the rest as text. The test is
 * `/^\d{1,10}(\.\d{1,3}){0,3}$/` written out by hand: it runs for every part of every element of a full
 * plan (some 50 000 at 10 000 service ports), and the regex with its `split` cost more than the rest of
 * the sort.
 */
function sortPart(text: string): number | string {
  let groups = 1;
  let digits = 0;
  let part = 0;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || groups === 4) return text;
      value = value * 256 + part;
      groups++;
      digits = 0;
      part = 0;
    } else if (c >= 48 && c <= 57) {
      digits++;
      if (digits > (groups === 1 ? 10 : 3)) return text;
      part = part * 10 + (c - 48);
    } else {
      return text;
    }
  }
  if (digits === 0) return text;
  if (groups === 1) return part;
  return groups === 4 ? value * 256 + part : text;
}

function compareParts(a: readonly (number | string)[], b: readonly (number | string)[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return a.length - b.length;
}

/** Sorts elements by key (as compareElementKeys does), converting each key once; sorted input costs one pass. */
function sortElements(elements: NftElement[]): NftElement[] {
  const keys = elements.map((e) => e.key.map(sortPart));
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = compareParts(keys[i - 1]!, keys[i]!) <= 0;
  if (sorted) return elements;
  return sortedOrder(keys).map((i) => elements[i]!);
}

/** Indices below this fit beside a 32-bit first part in one float64 (2^32 × 2^20 < 2^53). */
const PACKED_INDEX = 2 ** 20;

/**
 * The stable order of the keys, as indices. When every key starts with an address or a port (as in every
 * shared map: `cluster-ips`, `service-ips`, ...), the indices are sorted natively, each packed with its
 * first part into one number (first part × 2^20 + index): a comparator called by the sort cost more than
 * the rest of sorting 10 000 keys. Only runs that share a first part are then compared in full.
 */
function sortedOrder(keys: readonly (readonly (number | string)[])[]): number[] {
  const byComparing = (order: number[]): number[] =>
    order.sort((i, j) => compareParts(keys[i]!, keys[j]!) || i - j);
  const packed = new Float64Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const first = keys[i]![0];
    const fits = typeof first === 'number' && Number.isInteger(first) && first >= 0 && first < 2 ** 32;
    if (!fits || keys.length >= PACKED_INDEX) return byComparing(keys.map((_, j) => j));
    packed[i] = first * PACKED_INDEX + i;
  }
  packed.sort();
  const order = Array.from(packed, (p) => p % PACKED_INDEX);
  let start = 0;
  for (let i = 1; i <= order.length; i++) {
    if (i < order.length && keys[order[i]!]![0] === keys[order[start]!]![0]) continue;
    if (i - start > 1) order.splice(start, i - start, ...byComparing(order.slice(start, i)));
    start = i;
  }
  return order;
}

function elementValue(e: NftElement): string {
  if (e.endpoint !== undefined) {
    return e.endpoint.port === undefined ? e.endpoint.address : `${e.endpoint.address} . ${e.endpoint.port}`;
  }
  return e.verdict === undefined ? '' : verdictText(e.verdict);
}

function sameElement(a: NftElement, b: NftElement): boolean {
  return (
    a.key.length === b.key.length &&
    a.key.every((part, i) => part === b.key[i]) &&
    a.comment === b.comment &&
    elementValue(a) === elementValue(b) &&
    (a.verdict === undefined) === (b.verdict === undefined) &&
    (a.endpoint === undefined) === (b.endpoint === undefined)
  );
}

function sameElements(a: readonly NftElement[], b: readonly NftElement[]): boolean {
  return a.length === b.length && a.every((e, i) => sameElement(e, b[i]!));
}

/** A service port's elements by container. */
function byContainer(sp: NftServicePort | undefined): Map<string, NftElement[]> {
  const out = new Map<string, NftElement[]>();
  for (const { container, element } of sp?.elements ?? []) {
    const list = out.get(container);
    if (list === undefined) out.set(container, [element]);
    else list.push(element);
  }
  return out;
}

/** Inserts or removes a key in a sorted list (copying it). */
function withKey(list: readonly ServicePortKey[], key: ServicePortKey, present: boolean): ServicePortKey[] {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  const has = list[lo] === key;
  if (has === present) return [...list];
  const out = [...list];
  if (present) out.splice(lo, 0, key);
  else out.splice(lo, 1);
  return out;
}

/**
 * One container's elements as its sources put them, in source order, with the service port each came
 * from (two parallel arrays: a full plan gathers some 120 000 elements at 10 000 service ports). Endpoint
 * maps, which hold most of them, need no owners: no two service ports claim a key there.
 */
interface Gathered {
  readonly sources: ServicePortKey[];
  readonly elements: NftElement[];
  /** Undefined for an endpoint map. */
  readonly owners: ServicePortKey[] | undefined;
}

function gathered(name: string): Gathered {
  return { sources: [], elements: [], owners: isEndpointMapName(name) ? undefined : [] };
}

/**
 * Every container's elements, in one pass over the service ports (a fresh plan). A service port's
 * elements come container by container mostly, so the container is looked up only when it changes.
 */
function gatherAll(ports: ReadonlyMap<ServicePortKey, NftServicePort>): Map<string, Gathered> {
  const out = new Map<string, Gathered>();
  for (const sp of ports.values()) {
    let name: string | undefined;
    let into: Gathered | undefined;
    for (const { container, element } of sp.elements) {
      if (container !== name || into === undefined) {
        name = container;
        into = out.get(container);
        if (into === undefined) {
          into = gathered(container);
          out.set(container, into);
        }
        if (into.sources.at(-1) !== sp.key) into.sources.push(sp.key);
      }
      into.elements.push(element);
      into.owners?.push(sp.key);
    }
  }
  return out;
}

/** One container's elements, from its sources (a re-plan, for a container a changed service port touches). */
function gather(
  name: string,
  sources: readonly ServicePortKey[],
  ports: ReadonlyMap<ServicePortKey, NftServicePort>,
): Gathered {
  const out = gathered(name);
  out.sources.push(...sources);
  for (const key of sources) {
    for (const { container, element } of ports.get(key)!.elements) {
      if (container !== name) continue;
      out.elements.push(element);
      out.owners?.push(key);
    }
  }
  return out;
}

/** An element's key as the script writes it, which is also what makes two elements the same. */
function keyText(e: NftElement): string {
  return e.key.length === 1 ? e.key[0]! : e.key.join(' . ');
}

/** The elements of one container, the first claimant of a key winning it; clashes reported. */
function build(name: string, gathered: Gathered): { elements: NftElement[]; clashes: string[] } {
  const { elements, owners } = gathered;
  if (owners === undefined) return { elements: buildEndpointMap(elements), clashes: [] };
  const held = new Map<string, number>();
  const kept: NftElement[] = [];
  const clashes: string[] = [];
  for (let i = 0; i < elements.length; i++) {
    const element = elements[i]!;
    const text = keyText(element);
    const first = held.get(text);
    if (first === undefined) {
      held.set(text, i);
      kept.push(element);
    } else if (elementValue(elements[first]!) !== elementValue(element)) {
      clashes.push(
        `Service ports ${owners[first]} and ${owners[i]} both claim ${name} element ${text}: ${owners[first]} has it`,
      );
    }
  }
  return { elements: sortElements(kept), clashes };
}

/** An endpoint-map key (a decimal number) as a number; by hand, as {@link sortPart}, for 100 000 of them. */
function slotKey(text: string): number {
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57 || i >= 15) return Number(text);
    value = value * 10 + (c - 48);
  }
  return text.length === 0 ? Number(text) : value;
}

/**
 * An endpoint map's elements: every key is its slot's, so no two service ports claim one (and the map
 * holds most of a plan's elements: no need to index them by text), sorted as numbers.
 */
function buildEndpointMap(elements: NftElement[]): NftElement[] {
  let previous = -1;
  for (const e of elements) {
    const key = slotKey(e.key[0]!);
    if (!(key > previous)) return elements.sort((a, b) => slotKey(a.key[0]!) - slotKey(b.key[0]!));
    previous = key;
  }
  return elements;
}

function endpointMap(name: string): NftEndpointMap {
  const parsed = parseEndpointMapName(name)!;
  return {
    kind: 'endpoint-map',
    name,
    protocol: parsed.protocol,
    withPorts: parsed.value === 'pairs',
    comment: undefined,
    elements: [],
  };
}

/** By protocol, then group, then maps of addresses before maps of pairs. */
function compareEndpointMaps(a: string, b: string): number {
  const x = parseEndpointMapName(a)!;
  const y = parseEndpointMapName(b)!;
  if (x.protocol !== y.protocol) return x.protocol < y.protocol ? -1 : 1;
  if (x.group !== y.group) return x.group - y.group;
  return x.value === y.value ? 0 : x.value === 'addresses' ? -1 : 1;
}

function sameDeclaration(a: NftContainer, b: NftContainer): boolean {
  return JSON.stringify({ ...a, elements: [] }) === JSON.stringify({ ...b, elements: [] });
}

/**
 * Gathers the containers' elements.
 *
 * @param declared the shared sets and maps to fill, empty, in declaration order
 * @param ports the plan's service ports, in key order
 * @param given elements that come from the options rather than from service ports (nodeport-ips)
 * @param reuse the previous plan's containers, to rebuild only what changed
 * @returns the containers, their sources and clashes
 */
export function planContainers(
  declared: readonly NftContainer[],
  ports: ReadonlyMap<ServicePortKey, NftServicePort>,
  given: ReadonlyMap<string, readonly NftElement[]>,
  reuse?: ContainerReuse,
): PlannedContainers {
  let sources: Map<string, readonly ServicePortKey[]>;
  let touchedContainers: Set<string> | undefined;
  let gathered: Map<string, Gathered> | undefined;
  if (reuse === undefined) {
    gathered = gatherAll(ports);
    sources = new Map([...gathered].map(([name, g]) => [name, g.sources]));
  } else {
    sources = new Map(reuse.previous.sources);
    touchedContainers = new Set();
    for (const key of reuse.touched) {
      const before = byContainer(reuse.previousPorts.get(key));
      const after = byContainer(ports.get(key));
      for (const name of new Set([...before.keys(), ...after.keys()])) {
        // A re-planned service port often puts the very same elements into most containers.
        if (sameElements(before.get(name) ?? [], after.get(name) ?? [])) continue;
        touchedContainers.add(name);
        const list = withKey(sources.get(name) ?? [], key, after.has(name));
        if (list.length === 0) sources.delete(name);
        else sources.set(name, list);
      }
    }
  }
  const previous = new Map((reuse?.previous.containers ?? []).map((c) => [c.name, c]));
  const clashes = new Map<string, readonly string[]>();
  const fill = (c: NftContainer): NftContainer => {
    const before = previous.get(c.name);
    const extra = given.get(c.name);
    const keep =
      touchedContainers !== undefined &&
      !touchedContainers.has(c.name) &&
      before !== undefined &&
      sameDeclaration(before, c) &&
      (extra === undefined || sameElements(before.elements, sortElements([...extra])));
    if (keep) {
      const held = reuse?.previous.clashes.get(c.name);
      if (held !== undefined) clashes.set(c.name, held);
      return before;
    }
    const built = build(c.name, gathered?.get(c.name) ?? gather(c.name, sources.get(c.name) ?? [], ports));
    if (built.clashes.length > 0) clashes.set(c.name, built.clashes);
    const elements = extra === undefined ? built.elements : sortElements([...built.elements, ...extra]);
    return { ...c, elements };
  };
  const endpointMaps = [...sources.keys()].filter(isEndpointMapName).sort(compareEndpointMaps);
  return {
    containers: [...declared.map(fill), ...endpointMaps.map((name) => fill(endpointMap(name)))],
    sources,
    clashes,
  };
}
