/**
 * Walks one packet through iptables rules in restore format, the way the kernel would for the first
 * packet of a connection: nat PREROUTING (or OUTPUT for a packet from the node itself), the DNAT, then
 * filter INPUT / FORWARD / OUTPUT, then nat POSTROUTING. `-m statistic --mode random` rules fork the
 * walk, so every backend comes out with its probability; `-m recent --rcheck` never matches (no
 * affinity entry exists yet); marks are tracked, so masquerading is decided by the real
 * KUBE-POSTROUTING rules, not guessed.
 *
 * IPv4 packets are walked through iptables rules, IPv6 packets through ip6tables rules (the ruleset of
 * the packet's family: addresses in rules are read as that family's); a backend of an IPv6 DNAT reads
 * `[addr]:port`, as ip6tables writes it.
 *
 * It knows the matches kproxy emits (addresses, protocol, ports, addrtype, comment, statistic, recent,
 * mark, conntrack state, input interface (`--in-interface`), set through a callback for the ipvs mode's
 * ipsets) and says so in the path when a
 * rule uses something it does not model (that match is then assumed to match, as upstream's test tracer
 * does).
 *
 * @module
 */

import type { TracePacket, TraceResult, TraceVerdict } from '../contracts/trace.ts';
import {
  cidrContainsIp,
  type IpAddress,
  LOOPBACK_CIDR,
  LOOPBACK_CIDR6,
  parseIp,
} from '../kernel/iptables_address.ts';
import type { IptablesTable, TableRules } from '../kernel/iptables_restore.ts';
import { type AddressMatch, type MatchSpec, type ParsedRule, parseRule } from '../kernel/iptables_rule.ts';
import type { IptablesState } from '../kernel/iptables_state.ts';
import type { IPFamily } from '../model/types.ts';
import { combineTracedPaths } from './combine_paths.ts';
import { UNDECIDED_INTERFACE_NOTE } from './local_detection_note.ts';

/** Rules to trace through: table → chain → rules (restore text after `-A CHAIN `). */
export type TraceRuleset = ReadonlyMap<IptablesTable, ReadonlyMap<string, readonly string[]>>;

/** A packet's state while it is walked (what `-m set` callbacks may look at). */
export interface TracedPacket {
  readonly source: string;
  /** The destination after any DNAT so far. */
  readonly destination: string;
  readonly port: number;
  readonly protocol: string;
}

/** What the tracer needs to know about the node. */
export interface IptablesTraceEnvironment {
  /**
   * The node's own addresses (127.0.0.0/8 and ::1 are always local): `--src-type/--dst-type LOCAL`. Those
   * of the other family than the packet's are ignored.
   */
  readonly localAddresses: readonly string[];
  /** ipset membership for `-m set --match-set NAME FLAGS`; without it no set matches. */
  readonly matchSet?: ((name: string, flags: readonly string[], packet: TracedPacket) => boolean) | undefined;
}

/**
 * Builds a ruleset from planned tables and the jumps from built-in chains.
 *
 * @param tables planned tables (user chains)
 * @param builtinRules rules to put in built-in chains, in order (e.g. the mode's jumps)
 * @returns the ruleset
 * @example rulesetFromTables(plan.tables, plan.jumps)
 */
export function rulesetFromTables(
  tables: readonly TableRules[],
  builtinRules: readonly { readonly table: IptablesTable; readonly from: string; readonly rule: string }[],
): TraceRuleset {
  const out = new Map<IptablesTable, Map<string, string[]>>();
  const chainOf = (table: IptablesTable, chain: string): string[] => {
    let t = out.get(table);
    if (t === undefined) {
      t = new Map();
      out.set(table, t);
    }
    let c = t.get(chain);
    if (c === undefined) {
      c = [];
      t.set(chain, c);
    }
    return c;
  };
  for (const j of builtinRules) chainOf(j.table, j.from).push(j.rule);
  for (const t of tables) for (const c of t.chains) chainOf(t.table, c.name).push(...c.rules);
  return out;
}

/**
 * Builds a ruleset from parsed iptables-save output (e.g. of a live node).
 *
 * @param state tables from parseIptablesSave
 * @returns the ruleset
 * @example rulesetFromState(parseIptablesSave(saveText))
 */
export function rulesetFromState(state: IptablesState): TraceRuleset {
  const out = new Map<IptablesTable, Map<string, readonly string[]>>();
  for (const [table, chains] of state) {
    out.set(table, new Map([...chains].map(([name, c]) => [name, c.rules])));
  }
  return out;
}

/** `continue`: go on with the next rule; `return`: leave the current chain (RETURN, or a goto's end). */
type Outcome = 'continue' | 'return' | 'ACCEPT' | 'DROP' | 'REJECT' | 'NAT';

interface Branch {
  p: number;
  mark: number;
  dnat: string | undefined;
  masquerade: boolean;
  filterVerdict: 'ACCEPT' | 'DROP' | 'REJECT' | undefined;
  path: string[];
}

interface Walk {
  readonly ruleset: TraceRuleset;
  readonly env: IptablesTraceEnvironment;
  /** The packet's family: which tool's rules these are (how `-s`/`-d` read). */
  readonly family: IPFamily;
  readonly source: IpAddress;
  readonly sourceText: string;
  readonly protocol: string;
  readonly local: (ip: IpAddress) => boolean;
  readonly parsed: Map<string, ParsedRule | Error>;
  /** Destination as seen by the table being walked (post-DNAT in filter and POSTROUTING). */
  destination: IpAddress;
  destinationText: string;
  port: number;
  dnatDone: boolean;
  /** The input interface: '' for the node's own packets, undefined when unknown (`--in-interface`). */
  readonly inInterface: string | undefined;
  /** Set when a `-i` match met a packet of unknown input interface. */
  interfaceUndecided: boolean;
}

const MAX_DEPTH = 64;

function fork(b: Branch, p: number): Branch {
  return { ...b, p: b.p * p, path: [...b.path] };
}

function matchPort(m: { from: number; to: number; negated: boolean } | undefined, port: number): boolean {
  if (m === undefined) return true;
  return (port >= m.from && port <= m.to) !== m.negated;
}

/** Deterministic part of a match; statistic is handled by the caller. */
function matchOne(w: Walk, m: MatchSpec, b: Branch, notes: string[]): boolean {
  switch (m.kind) {
    case 'comment':
      return true;
    case 'port':
      if (m.sport !== undefined) notes.push('source port not modelled: assumed to match');
      return m.protocol === w.protocol && matchPort(m.dport, w.port);
    case 'multiport':
      return m.ports.some((r) => w.port >= r.from && w.port <= r.to) !== m.negated;
    case 'addrtype': {
      const typeMatches = (types: readonly string[], ip: IpAddress): boolean =>
        types.some((t) => (t === 'LOCAL' ? w.local(ip) : t === 'UNICAST' ? !w.local(ip) : false));
      if (m.srcType && typeMatches(m.srcType.types, w.source) === m.srcType.negated) return false;
      if (m.dstType && typeMatches(m.dstType.types, w.destination) === m.dstType.negated) return false;
      return true;
    }
    case 'statistic':
      return true;
    case 'recent':
      // No affinity entry exists yet: only --set matches (and records, which does not matter here).
      return m.mode === 'set';
    case 'mark':
      return ((b.mark & m.mask) >>> 0 === m.value >>> 0) !== m.negated;
    case 'conntrack': {
      const states = new Set(['NEW', ...(w.dnatDone ? ['DNAT'] : [])]);
      return m.states.some((s) => states.has(s)) !== m.negated;
    }
    case 'set': {
      if (w.env.matchSet === undefined) notes.push(`set ${m.name} unknown: assumed not to match`);
      const hit =
        w.env.matchSet?.(m.name, m.flags, {
          source: w.sourceText,
          destination: w.destinationText,
          port: w.port,
          protocol: w.protocol,
        }) ?? false;
      return hit !== m.negated;
    }
    default: {
      const never: never = m;
      return never;
    }
  }
}

/** A network of one family never contains an address of the other. */
function addressMatches(m: AddressMatch, ip: IpAddress): boolean {
  return cidrContainsIp(m.cidr, ip);
}

function ruleMatches(
  w: Walk,
  r: ParsedRule,
  b: Branch,
  notes: string[],
): { matches: boolean; probability: number } {
  const no = { matches: false, probability: 0 };
  if (r.source && addressMatches(r.source, w.source) === r.source.negated) return no;
  if (r.destination && addressMatches(r.destination, w.destination) === r.destination.negated) return no;
  if (r.protocol && r.protocol.name !== 'all' && (r.protocol.name === w.protocol) === r.protocol.negated)
    return no;
  if (r.inInterface) {
    const name = r.inInterface.name;
    if (w.inInterface === undefined) {
      // Unknown: taken as not from that interface (not from a pod), and the trace says so.
      w.interfaceUndecided = true;
      if (!r.inInterface.negated) return no;
    } else {
      // iptables: a final `+` matches every name that starts with what precedes it.
      const hit = name.endsWith('+') ? w.inInterface.startsWith(name.slice(0, -1)) : w.inInterface === name;
      if (hit === r.inInterface.negated) return no;
    }
  }
  if (r.outInterface) notes.push('output interface match not modelled: assumed to match');
  let probability = 1;
  for (const m of r.matches) {
    if (m.kind === 'statistic') probability *= m.probability;
    else if (!matchOne(w, m, b, notes)) return no;
  }
  for (const u of r.unsupported) notes.push(`${u} not modelled: assumed to match`);
  return { matches: true, probability };
}

function parsedRule(w: Walk, text: string): ParsedRule | Error {
  let r = w.parsed.get(text);
  if (r === undefined) {
    try {
      r = parseRule(text, { family: w.family });
    } catch (e) {
      r = e as Error;
    }
    w.parsed.set(text, r);
  }
  return r;
}

interface ChainResult {
  readonly branch: Branch;
  readonly outcome: Outcome;
}

function walkChain(
  w: Walk,
  table: IptablesTable,
  chain: string,
  start: Branch,
  depth: number,
): ChainResult[] {
  const rules = w.ruleset.get(table)?.get(chain) ?? [];
  const done: ChainResult[] = [];
  if (depth > MAX_DEPTH) {
    start.path.push(`${table}/${chain}: too deep, stopped (a loop?)`);
    return [{ branch: start, outcome: 'DROP' }];
  }
  let live: Branch[] = [start];
  for (const text of rules) {
    if (live.length === 0) break;
    const rule = parsedRule(w, text);
    if (rule instanceof Error) {
      for (const b of live) b.path.push(`${table}/${chain}: cannot parse rule (${rule.message}): ${text}`);
      continue;
    }
    const next: Branch[] = [];
    for (const b of live) {
      const notes: string[] = [];
      const { matches, probability } = ruleMatches(w, rule, b, notes);
      if (!matches || probability === 0) {
        next.push(b);
        continue;
      }
      let taken = b;
      if (probability < 1) {
        taken = fork(b, probability);
        const rest = fork(b, 1 - probability);
        next.push(rest);
      }
      const tag = probability < 1 ? ` (probability ${probability.toFixed(4)})` : '';
      taken.path.push(`${table}/${chain}: ${text}${tag}${notes.length ? ` [${notes.join('; ')}]` : ''}`);
      for (const r of applyTarget(w, table, rule, taken, depth)) {
        if (r.outcome === 'continue') next.push(r.branch);
        else if (r.outcome === 'return') done.push({ branch: r.branch, outcome: 'continue' });
        else done.push(r);
      }
    }
    live = next;
  }
  for (const b of live) done.push({ branch: b, outcome: 'continue' });
  return done;
}

function applyTarget(
  w: Walk,
  table: IptablesTable,
  rule: ParsedRule,
  b: Branch,
  depth: number,
): ChainResult[] {
  const t = rule.target;
  if (t === undefined) return [{ branch: b, outcome: 'continue' }];
  switch (t.kind) {
    case 'jump': {
      const results = walkChain(w, table, t.chain, b, depth + 1);
      // A goto does not come back to this chain: falling off the end of the target returns to our caller.
      return t.goto
        ? results.map((r) => (r.outcome === 'continue' ? { ...r, outcome: 'return' } : r))
        : results;
    }
    case 'RETURN':
      return [{ branch: b, outcome: 'return' }];
    case 'ACCEPT':
      return [{ branch: b, outcome: 'ACCEPT' }];
    case 'DROP':
      return [{ branch: b, outcome: 'DROP' }];
    case 'REJECT':
      return [{ branch: b, outcome: 'REJECT' }];
    case 'DNAT':
      b.dnat = t.to;
      return [{ branch: b, outcome: 'NAT' }];
    case 'SNAT':
      return [{ branch: b, outcome: 'NAT' }];
    case 'MASQUERADE':
      b.masquerade = true;
      return [{ branch: b, outcome: 'NAT' }];
    case 'MARK':
      switch (t.op) {
        case 'or':
          b.mark = (b.mark | t.value) >>> 0;
          break;
        case 'xor':
          b.mark = (b.mark ^ t.value) >>> 0;
          break;
        case 'and':
          b.mark = (b.mark & t.value) >>> 0;
          break;
        case 'setx':
          b.mark = ((b.mark & ~t.mask) ^ t.value) >>> 0;
          break;
        default: {
          const never: never = t.op;
          return never;
        }
      }
      return [{ branch: b, outcome: 'continue' }];
    case 'other':
      b.path.push(`${table}: target ${t.name} not modelled: ignored`);
      return [{ branch: b, outcome: 'continue' }];
    default: {
      const never: never = t;
      return never;
    }
  }
}

/** Walks a built-in chain (and its callees) for each branch; a branch that falls off the end is `continue`. */
function walkBuiltin(w: Walk, table: IptablesTable, chain: string, branches: Branch[]): ChainResult[] {
  const out: ChainResult[] = [];
  for (const b of branches) out.push(...walkChain(w, table, chain, b, 0));
  return out;
}

/**
 * Traces one packet through a ruleset.
 *
 * @param ruleset the rules (e.g. from {@link rulesetFromTables})
 * @param packet source, destination, port and protocol
 * @param env the node's addresses and optional ipset membership
 * @returns the verdict, masquerade, every backend with its probability and the rules walked
 * @example traceIptables(ruleset, { source: '10.0.0.2', destination: '172.30.0.41', port: 80, protocol: 'TCP' }, { localAddresses: ['192.168.0.2'] })
 */
export function traceIptables(
  ruleset: TraceRuleset,
  packet: TracePacket,
  env: IptablesTraceEnvironment,
): TraceResult {
  const family: IPFamily = packet.destination.includes(':') ? 'IPv6' : 'IPv4';
  const source = parseIp(packet.source, family);
  const destination = parseIp(packet.destination, family);
  if (source === undefined || destination === undefined) {
    const path = [`Not a packet of one IP family: ${packet.source} -> ${packet.destination}`];
    return { verdict: 'NONE', masquerade: false, backends: [], path };
  }
  const locals: IpAddress[] = [];
  for (const text of env.localAddresses) {
    const ip = parseIp(text, family);
    if (ip !== undefined) locals.push(ip);
  }
  const loopback = family === 'IPv6' ? LOOPBACK_CIDR6 : LOOPBACK_CIDR;
  const local = (ip: IpAddress): boolean => cidrContainsIp(loopback, ip) || locals.includes(ip);
  const fromNode = local(source);
  const protocol = packet.protocol.toLowerCase();
  const w: Walk = {
    ruleset,
    env,
    family,
    source,
    sourceText: packet.source,
    protocol,
    local,
    parsed: new Map(),
    destination,
    destinationText: packet.destination,
    port: packet.port,
    dnatDone: false,
    // The node's own packets have no input interface (nat OUTPUT, filter OUTPUT, POSTROUTING).
    inInterface: fromNode ? (packet.inInterface ?? '') : packet.inInterface,
    interfaceUndecided: false,
  };
  const start: Branch = {
    p: 1,
    mark: 0,
    dnat: undefined,
    masquerade: false,
    filterVerdict: undefined,
    path: [],
  };

  // 1. nat PREROUTING (from outside) or OUTPUT (from the node itself).
  const natChain = fromNode ? 'OUTPUT' : 'PREROUTING';
  const afterNat = walkBuiltin(w, 'nat', natChain, [start]).map((r) => r.branch);

  const finals: Branch[] = [];
  for (const b of afterNat) {
    // 2. Routing after DNAT: the destination every later table sees.
    if (b.dnat !== undefined) {
      const { ip, port } = splitHostPort(b.dnat);
      w.destinationText = ip;
      w.destination = parseIp(ip, family) ?? destination;
      w.port = port ?? packet.port;
      w.dnatDone = true;
    } else {
      w.destinationText = packet.destination;
      w.destination = destination;
      w.port = packet.port;
      w.dnatDone = false;
    }
    const toNode = local(w.destination);
    // 3. filter: OUTPUT for the node's own packets (then INPUT too when it talks to itself); INPUT or FORWARD.
    const filterChains = fromNode
      ? toNode
        ? ['OUTPUT', 'INPUT']
        : ['OUTPUT']
      : toNode
        ? ['INPUT']
        : ['FORWARD'];
    let live = [b];
    for (const chain of filterChains) {
      const next: Branch[] = [];
      for (const r of walkBuiltin(w, 'filter', chain, live)) {
        if (r.outcome === 'DROP' || r.outcome === 'REJECT') {
          r.branch.filterVerdict = r.outcome;
          finals.push(r.branch);
        } else {
          if (r.outcome === 'ACCEPT') r.branch.filterVerdict = 'ACCEPT';
          next.push(r.branch);
        }
      }
      live = next;
    }
    // 4. nat POSTROUTING for packets that leave through the stack (not for local delivery from outside).
    for (const l of live) {
      if (fromNode || !toNode) {
        for (const r of walkBuiltin(w, 'nat', 'POSTROUTING', [l])) finals.push(r.branch);
      } else {
        finals.push(l);
      }
    }
  }
  const result = combineTracedPaths(
    finals.map((b) => ({
      probability: b.p,
      verdict: verdictOf(b),
      backend: b.dnat,
      masquerade: b.masquerade,
      steps: b.path,
    })),
  );
  return w.interfaceUndecided ? { ...result, path: [UNDECIDED_INTERFACE_NOTE, ...result.path] } : result;
}

/**
 * A DNAT target's address and port: `10.0.0.1:80`, `10.0.0.1`, `[2001:2::1]:80` or `[2001:2::1]`
 * (ip6tables' form), or a bare IPv6 address.
 */
function splitHostPort(text: string): { ip: string; port: number | undefined } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed !== null) {
    return { ip: bracketed[1]!, port: bracketed[2] === undefined ? undefined : Number(bracketed[2]) };
  }
  const colons = text.split(':').length - 1;
  if (colons === 1) {
    const [ip, port] = text.split(':');
    return { ip: ip!, port: Number(port) };
  }
  return { ip: text, port: undefined };
}

function verdictOf(b: Branch): TraceVerdict {
  if (b.filterVerdict === 'DROP' || b.filterVerdict === 'REJECT') return b.filterVerdict;
  if (b.dnat !== undefined) return 'DNAT';
  return b.filterVerdict === 'ACCEPT' ? 'ACCEPT' : 'NONE';
}
