/**
 * `kproxy trace --proxy-mode nftables`: walks the first packet of a connection through a plan's
 * structure the way the kernel would, and answers with the same {@link TraceResult} as the other modes.
 *
 * Either family: the plan's (`ip` or `ip6`) decides how addresses are read; a packet of the other family
 * never reaches the table, and the trace says so. Backends print as `10.180.0.1:80` or `[fd00::1]:80`.
 *
 * The walk: the base chains of each hook on the packet's path, by priority (from outside: prerouting,
 * then input when the destination after DNAT is local, else forward and postrouting; from the node
 * itself: output, postrouting, then prerouting's filter chains and input when it talks to itself). Verdict
 * maps are looked up in the plan's elements; `numgen random mod N` forks the walk, each chain (or each
 * endpoint of an endpoint map) with probability 1/N; affinity sets are empty (no client has been seen yet); marks are tracked, so
 * masquerading is decided by the masquerading chain's own rules. `jump` comes back, `goto` does not,
 * `return` leaves the chain; a nat statement ends the base chain; `drop` and `reject` end the packet.
 *
 * @module
 */
import type { PlanOptions } from '../../contracts/plan_options.ts';
import type { TracePacket, TraceResult, TraceVerdict } from '../../contracts/trace.ts';
import {
  cidrContainsIp,
  formatIp,
  type IpAddress,
  parseCidr,
  parseIp,
} from '../../kernel/iptables_address.ts';
import type { ProxyState } from '../../model/types.ts';
import { combineTracedPaths } from '../../trace/combine_paths.ts';
import { UNDECIDED_INTERFACE_NOTE } from '../../trace/local_detection_note.ts';
import { addressAndPort, ipFamilyOfTable, loopbackOf } from './addresses.ts';
import { type NftablesPlan, planNftables } from './plan.ts';
import { elementText, ruleText } from './rule_text.ts';
import type {
  NftAddressOperand,
  NftBaseChain,
  NftChain,
  NftElement,
  NftHook,
  NftMatch,
  NftRule,
  NftVerdict,
} from './ruleset.ts';

/** One way the packet may go (numgen forks the walk). */
interface Branch {
  p: number;
  mark: number;
  /** Set once a DNAT ran: the destination every later chain sees. */
  dnat: { readonly address: string; readonly port: number } | undefined;
  masquerade: boolean;
  final: 'DROP' | 'REJECT' | undefined;
  path: string[];
}

/** How a chain walk ended for a branch: fell off the end (or returned), or a verdict that ends the base chain. */
type Outcome = 'fallthrough' | 'nat' | 'drop' | 'reject';

interface Result {
  readonly branch: Branch;
  readonly outcome: Outcome;
}

/** The plan, indexed for lookups, and the packet. */
interface Walk {
  readonly family: NftablesPlan['family'];
  readonly chains: ReadonlyMap<string, NftChain>;
  /** Container name → element key text (`a . b . c`) → element. */
  readonly elements: ReadonlyMap<string, ReadonlyMap<string, NftElement>>;
  readonly local: (ip: IpAddress) => boolean;
  readonly source: string;
  readonly protocol: string;
  readonly destination: string;
  readonly port: number;
  /** The input interface (`--in-interface`); '' for the node's own packets; undefined when unknown. */
  readonly inInterface: string | undefined;
  /** Set when an `iifname` match met a packet of unknown input interface. */
  readonly undecided: { interface: boolean };
}

const MAX_DEPTH = 32;

function view(w: Walk, b: Branch): { destination: string; port: number } {
  return b.dnat === undefined
    ? { destination: w.destination, port: w.port }
    : { destination: b.dnat.address, port: b.dnat.port };
}

function fork(b: Branch, p: number): Branch {
  return { ...b, p: b.p * p, path: [...b.path] };
}

function inOperand(w: Walk, o: NftAddressOperand, ip: string): boolean {
  switch (o.kind) {
    case 'prefixes': {
      const n = parseIp(ip, ipFamilyOfTable(w.family));
      return (
        n !== undefined &&
        o.prefixes.some((text) => {
          const cidr = parseCidr(text, ipFamilyOfTable(w.family));
          return cidr !== undefined && cidrContainsIp(cidr, n);
        })
      );
    }
    case 'set':
      return w.elements.get(o.set)?.has(ip) ?? false;
    default: {
      const never: never = o;
      return never;
    }
  }
}

function matches(w: Walk, m: NftMatch, b: Branch): boolean {
  switch (m.kind) {
    case 'ct-state-new':
      return true;
    case 'address': {
      const ip = m.field === 'saddr' ? w.source : view(w, b).destination;
      return inOperand(w, m.operand, ip) !== m.negated;
    }
    case 'input-interface': {
      if (w.inInterface === undefined) {
        // Without the interface, the packet is taken as not from a pod (the trace says so).
        w.undecided.interface = true;
        return m.negated;
      }
      const hit = m.wildcard ? w.inInterface.startsWith(m.name) : w.inInterface === m.name;
      return hit !== m.negated;
    }
    case 'fib-local': {
      const ip = parseIp(m.field === 'saddr' ? w.source : view(w, b).destination, ipFamilyOfTable(w.family));
      return ip !== undefined && w.local(ip);
    }
    case 'mark-unset':
      return (b.mark & Number(m.mark)) >>> 0 === 0;
    case 'ct-status-dnat':
      return b.dnat !== undefined;
    case 'address-pair':
      return w.elements.get(m.set)?.has(`${w.source} . ${view(w, b).destination}`) ?? false;
    case 'destination-port':
      return w.protocol === m.protocol && view(w, b).port === m.port;
    default: {
      const never: never = m;
      return never;
    }
  }
}

/** What a rule did with a branch: it goes on to the next rule, or it left the chain (and how). */
interface Step {
  readonly next: Branch[];
  readonly left: Result[];
}

/** Follows a verdict from a rule or a map element. */
function follow(w: Walk, v: NftVerdict, b: Branch, depth: number): Step {
  switch (v.kind) {
    case 'jump': {
      // A jump comes back: what falls off the target's end goes on with the next rule here.
      const out = walkChain(w, v.chain, b, depth + 1);
      return {
        next: out.filter((r) => r.outcome === 'fallthrough').map((r) => r.branch),
        left: out.filter((r) => r.outcome !== 'fallthrough'),
      };
    }
    case 'goto':
      // A goto does not: when its target falls off its end, so does this chain.
      return { next: [], left: walkChain(w, v.chain, b, depth + 1) };
    case 'return':
      return { next: [], left: [{ branch: b, outcome: 'fallthrough' }] };
    case 'drop':
      return { next: [], left: [{ branch: b, outcome: 'drop' }] };
    case 'reject':
      return { next: [], left: [{ branch: b, outcome: 'reject' }] };
    default: {
      const never: never = v;
      return never;
    }
  }
}

/** Runs one rule for one branch; returns the branches that go on to the next rule and those that left. */
function runRule(w: Walk, chain: string, r: NftRule, b: Branch, depth: number): Step {
  if (!r.matches.every((m) => matches(w, m, b))) return { next: [b], left: [] };
  const step = `${chain}: ${ruleText(r, w.family)}`;
  b.path.push(step);
  for (const s of r.statements) {
    switch (s.kind) {
      case 'mark-or':
        b.mark = (b.mark | Number(s.mark)) >>> 0;
        break;
      case 'mark-xor':
        b.mark = (b.mark ^ Number(s.mark)) >>> 0;
        break;
      case 'update-source':
        // Records the client for affinity; later connections, not this first packet, would see it.
        break;
      default: {
        const never: never = s;
        return never;
      }
    }
  }
  const a = r.action;
  if (a === undefined) return { next: [b], left: [] };
  switch (a.kind) {
    case 'jump':
    case 'goto':
    case 'return':
    case 'drop':
    case 'reject':
      return follow(w, a, b, depth);
    case 'vmap': {
      const { destination, port } = view(w, b);
      const key = a.key === 'destination' ? [destination, w.protocol, port] : [w.protocol, port];
      const element = w.elements.get(a.map)?.get(key.join(' . '));
      if (element?.verdict === undefined) {
        b.path.push(`${chain}: no ${key.join(' . ')} in @${a.map}`);
        return { next: [b], left: [] };
      }
      b.path.push(`${chain}: @${a.map} has ${elementText(element)}`);
      return follow(w, element.verdict, b, depth);
    }
    case 'numgen': {
      const out: Step = { next: [], left: [] };
      const p = 1 / a.chains.length;
      a.chains.forEach((c, i) => {
        const taken = fork(b, p);
        taken.path.push(`${chain}: numgen chose ${i} (probability ${p.toFixed(4)})`);
        const r2 = follow(w, { kind: 'goto', chain: c }, taken, depth);
        out.next.push(...r2.next);
        out.left.push(...r2.left);
      });
      return out;
    }
    case 'dnat':
      b.dnat = { address: a.address, port: a.port };
      return { next: [], left: [{ branch: b, outcome: 'nat' }] };
    case 'dnat-map': {
      // The kernel rolls numgen once; a key the map lacks makes the rule not match (the next rule runs).
      const out: Step = { next: [], left: [] };
      const p = 1 / a.count;
      for (let i = 0; i < a.count; i++) {
        const taken = fork(b, p);
        const element = w.elements.get(a.map)?.get(String(a.offset + i));
        if (element?.endpoint === undefined) {
          taken.path.push(`${chain}: no ${a.offset + i} in @${a.map}`);
          out.next.push(taken);
          continue;
        }
        taken.path.push(
          `${chain}: numgen chose ${i} (probability ${p.toFixed(4)}): @${a.map} has ${elementText(element)}`,
        );
        // A map of addresses leaves the port to the rule (and without one, the port stays as it was).
        const port = element.endpoint.port ?? a.port ?? view(w, b).port;
        taken.dnat = { address: element.endpoint.address, port };
        out.left.push({ branch: taken, outcome: 'nat' });
      }
      return out;
    }
    case 'masquerade':
      b.masquerade = true;
      return { next: [], left: [{ branch: b, outcome: 'nat' }] };
    default: {
      const never: never = a;
      return never;
    }
  }
}

function walkChain(w: Walk, name: string, start: Branch, depth: number): Result[] {
  const chain = w.chains.get(name);
  if (chain === undefined || depth > MAX_DEPTH) {
    start.path.push(`${name}: ${chain === undefined ? 'no such chain' : 'too deep, stopped'}`);
    return [{ branch: start, outcome: 'drop' }];
  }
  const done: Result[] = [];
  let live = [start];
  for (const r of chain.rules) {
    const next: Branch[] = [];
    for (const b of live) {
      const out = runRule(w, name, r, b, depth);
      next.push(...out.next);
      done.push(...out.left);
    }
    live = next;
    if (live.length === 0) break;
  }
  for (const b of live) done.push({ branch: b, outcome: 'fallthrough' });
  return done;
}

/** Runs the base chains of a hook, by priority; a branch that is dropped or rejected stops there. */
function runHook(w: Walk, chains: readonly NftBaseChain[], branches: Branch[], finals: Branch[]): Branch[] {
  let live = branches;
  for (const c of chains) {
    const next: Branch[] = [];
    for (const b of live) {
      for (const r of walkChain(w, c.name, b, 0)) {
        if (r.outcome === 'drop' || r.outcome === 'reject') {
          r.branch.final = r.outcome === 'drop' ? 'DROP' : 'REJECT';
          finals.push(r.branch);
        } else {
          next.push(r.branch);
        }
      }
    }
    live = next;
  }
  return live;
}

function indexElements(plan: NftablesPlan): Map<string, Map<string, NftElement>> {
  const out = new Map<string, Map<string, NftElement>>();
  for (const c of plan.containers) out.set(c.name, new Map(c.elements.map((e) => [e.key.join(' . '), e])));
  return out;
}

/**
 * Traces a packet through a plan.
 *
 * @param plan the plan
 * @param options the plan flags (the node IPs are the local addresses)
 * @param packet the packet
 * @returns verdict, masquerade, backends with probabilities, and the rules walked
 * @example traceNftablesPlan(plan, options, { source: '10.0.0.2', destination: '172.30.0.41', port: 80, protocol: 'TCP' })
 */
export function traceNftablesPlan(
  plan: NftablesPlan,
  options: PlanOptions,
  packet: TracePacket,
): TraceResult {
  const family = plan.family;
  const ipFamily = ipFamilyOfTable(family);
  const locals = new Set(
    options.nodeIPs.map((ip) => parseIp(ip, ipFamily)).filter((n): n is IpAddress => n !== undefined),
  );
  const loopback = loopbackOf(family);
  const local = (ip: IpAddress): boolean => cidrContainsIp(loopback, ip) || locals.has(ip);
  const source = parseIp(packet.source, ipFamily);
  const destination = parseIp(packet.destination, ipFamily);
  if (source === undefined || destination === undefined) {
    return {
      verdict: 'NONE',
      masquerade: false,
      backends: [],
      path: [`Only ${ipFamily} packets go through table ${family} ${plan.table}`],
    };
  }
  const chains = new Map<string, NftChain>();
  for (const c of [...plan.baseChains, ...plan.chains]) chains.set(c.name, c);
  for (const sp of plan.servicePorts.values()) for (const c of sp.chains) chains.set(c.name, c);
  const w: Walk = {
    family,
    chains,
    elements: indexElements(plan),
    local,
    // As the plan writes addresses (canonical), so that set lookups find them.
    source: formatIp(source),
    protocol: packet.protocol.toLowerCase(),
    destination: formatIp(destination),
    port: packet.port,
    // The node's own packets have no input interface (iifname is empty in output and postrouting).
    inInterface: local(source) ? (packet.inInterface ?? '') : packet.inInterface,
    undecided: { interface: false },
  };
  const hook = (h: NftHook, filterOnly = false): NftBaseChain[] =>
    plan.baseChains
      .filter((c) => c.hook === h && (!filterOnly || c.type === 'filter'))
      .sort((a, b) => a.priority - b.priority);
  const toNode = (b: Branch): boolean => {
    const ip = parseIp(view(w, b).destination, ipFamily);
    return ip !== undefined && local(ip);
  };

  const finals: Branch[] = [];
  const start: Branch = { p: 1, mark: 0, dnat: undefined, masquerade: false, final: undefined, path: [] };
  if (local(source)) {
    for (const b of runHook(w, hook('output'), [start], finals)) {
      const afterPostrouting = runHook(w, hook('postrouting'), [b], finals);
      // Talking to itself: back in through loopback (NAT is already decided for the connection).
      if (toNode(b)) {
        const back = runHook(w, hook('prerouting', true), afterPostrouting, finals);
        finals.push(...runHook(w, hook('input'), back, finals));
      } else {
        finals.push(...afterPostrouting);
      }
    }
  } else {
    for (const b of runHook(w, hook('prerouting'), [start], finals)) {
      if (toNode(b)) finals.push(...runHook(w, hook('input'), [b], finals));
      else finals.push(...runHook(w, hook('postrouting'), runHook(w, hook('forward'), [b], finals), finals));
    }
  }
  const result = combineTracedPaths(
    finals.map((b) => ({
      probability: b.p,
      verdict: verdictOf(b),
      backend: b.dnat === undefined ? undefined : addressAndPort(b.dnat.address, b.dnat.port),
      masquerade: b.masquerade,
      steps: b.path,
    })),
  );
  return w.undecided.interface ? { ...result, path: [UNDECIDED_INTERFACE_NOTE, ...result.path] } : result;
}

/**
 * Plans and traces.
 *
 * @param state the proxy state
 * @param options the plan flags
 * @param packet the packet
 * @returns the trace
 * @example traceNftablesState(state, options, { source: '203.0.113.2', destination: '192.168.0.2', port: 30080, protocol: 'TCP' })
 */
export function traceNftablesState(
  state: ProxyState,
  options: PlanOptions,
  packet: TracePacket,
): TraceResult {
  return traceNftablesPlan(planNftables(state, options), options, packet);
}

function verdictOf(b: Branch): TraceVerdict {
  if (b.final !== undefined) return b.final;
  return b.dnat === undefined ? 'NONE' : 'DNAT';
}
