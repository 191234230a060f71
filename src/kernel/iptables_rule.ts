/**
 * Parses one iptables rule (the arguments after `-A CHAIN`) into its matches and target. The strict fake
 * uses it to reject what the real tool would reject (unknown match, unknown option, bad address); the
 * tracer uses it to evaluate a packet. It understands what kproxy's modes emit and what iptables-save
 * prints for it; anything else is kept as `unsupported` so that a caller can decide.
 *
 * @module
 */
import { KproxyError } from '../contracts/errors.ts';
import type { IPFamily } from '../model/types.ts';
import { type Ipv4Cidr, type Ipv6Cidr, parseIpv4Cidr, parseIpv6Cidr } from './iptables_address.ts';
import { tokenizeRestoreLine } from './iptables_restore.ts';

/** `[!] -s/-d CIDR`: an IPv4 network, or an IPv6 one (in ip6tables rules). */
export type AddressMatch =
  | { readonly negated: boolean; readonly family: 'IPv4'; readonly cidr: Ipv4Cidr }
  | { readonly negated: boolean; readonly family: 'IPv6'; readonly cidr: Ipv6Cidr };

/** Options of {@link parseRule}. */
export interface ParseRuleOptions {
  /** iptables (IPv4, the default) or ip6tables (IPv6): which addresses `-s`/`-d` take. */
  readonly family?: IPFamily | undefined;
}

/** `[!] --dport A[:B]`. */
export interface PortMatch {
  readonly negated: boolean;
  readonly from: number;
  readonly to: number;
}

/** One `-m NAME ...` block (or a protocol's implicit port match), with its options. */
export type MatchSpec =
  | { readonly kind: 'comment'; readonly text: string }
  | {
      readonly kind: 'port';
      readonly protocol: string;
      readonly dport?: PortMatch;
      readonly sport?: PortMatch;
    }
  | {
      readonly kind: 'addrtype';
      readonly srcType?: { readonly negated: boolean; readonly types: readonly string[] };
      readonly dstType?: { readonly negated: boolean; readonly types: readonly string[] };
    }
  | { readonly kind: 'statistic'; readonly probability: number }
  | {
      readonly kind: 'recent';
      readonly mode: 'set' | 'rcheck' | 'update' | 'remove';
      readonly name: string;
      readonly seconds: number | undefined;
    }
  | { readonly kind: 'mark'; readonly negated: boolean; readonly value: number; readonly mask: number }
  | { readonly kind: 'conntrack'; readonly negated: boolean; readonly states: readonly string[] }
  | {
      readonly kind: 'set';
      readonly negated: boolean;
      readonly name: string;
      readonly flags: readonly string[];
    }
  | { readonly kind: 'multiport'; readonly negated: boolean; readonly ports: readonly PortMatch[] };

/** What a rule does when it matches. */
export type TargetSpec =
  | { readonly kind: 'jump'; readonly chain: string; readonly goto: boolean }
  | { readonly kind: 'ACCEPT' | 'DROP' | 'RETURN' }
  | { readonly kind: 'REJECT'; readonly with: string | undefined }
  | { readonly kind: 'DNAT'; readonly to: string }
  | { readonly kind: 'SNAT'; readonly to: string }
  | { readonly kind: 'MASQUERADE' }
  | {
      readonly kind: 'MARK';
      readonly op: 'or' | 'xor' | 'and' | 'setx';
      readonly value: number;
      readonly mask: number;
    }
  | { readonly kind: 'other'; readonly name: string };

/** A parsed rule. */
export interface ParsedRule {
  readonly source: AddressMatch | undefined;
  readonly destination: AddressMatch | undefined;
  readonly protocol: { readonly negated: boolean; readonly name: string } | undefined;
  readonly inInterface: { readonly negated: boolean; readonly name: string } | undefined;
  readonly outInterface: { readonly negated: boolean; readonly name: string } | undefined;
  readonly matches: readonly MatchSpec[];
  /** Undefined for a rule without target (it only counts packets). */
  readonly target: TargetSpec | undefined;
  /** Matches or options this parser does not model (e.g. `-m physdev`); empty for kproxy's rules. */
  readonly unsupported: readonly string[];
}

/** A rule that iptables itself would refuse. */
export class RuleSyntaxError extends KproxyError {
  override readonly name = 'RuleSyntaxError';
  override readonly code = 'KPROXY_IPTABLES_RULE_SYNTAX';
}

/** Targets that are not chains; everything else after `-j` must be an existing chain. */
export const EXTENSION_TARGETS: ReadonlySet<string> = new Set([
  'ACCEPT',
  'DROP',
  'RETURN',
  'QUEUE',
  'REJECT',
  'DNAT',
  'SNAT',
  'MASQUERADE',
  'REDIRECT',
  'MARK',
  'CONNMARK',
  'LOG',
  'NOTRACK',
  'CT',
]);

/** Options each match or target module takes, with how many values follow each. */
const MODULE_OPTIONS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  comment: { '--comment': 1 },
  tcp: {
    '--dport': 1,
    '--destination-port': 1,
    '--sport': 1,
    '--source-port': 1,
    '--syn': 0,
    '--tcp-flags': 2,
  },
  udp: { '--dport': 1, '--destination-port': 1, '--sport': 1, '--source-port': 1 },
  sctp: { '--dport': 1, '--destination-port': 1, '--sport': 1, '--source-port': 1 },
  addrtype: { '--src-type': 1, '--dst-type': 1, '--limit-iface-in': 0, '--limit-iface-out': 0 },
  statistic: { '--mode': 1, '--probability': 1, '--every': 1, '--packet': 1 },
  recent: {
    '--name': 1,
    '--set': 0,
    '--rcheck': 0,
    '--update': 0,
    '--remove': 0,
    '--seconds': 1,
    '--reap': 0,
    '--hitcount': 1,
    '--rttl': 0,
    '--rsource': 0,
    '--rdest': 0,
    '--mask': 1,
  },
  mark: { '--mark': 1 },
  socket: { '--nowildcard': 0, '--transparent': 0, '--restore-skmark': 0 },
  conntrack: { '--ctstate': 1, '--ctorigdst': 1, '--ctorigsrc': 1, '--ctstatus': 1, '--ctdir': 1 },
  set: { '--match-set': 2, '--return-nomatch': 0 },
  multiport: { '--dports': 1, '--destination-ports': 1, '--sports': 1, '--ports': 1 },
  physdev: {
    '--physdev-in': 1,
    '--physdev-out': 1,
    '--physdev-is-in': 0,
    '--physdev-is-out': 0,
    '--physdev-is-bridged': 0,
  },
  ipvs: {
    '--ipvs': 0,
    '--vproto': 1,
    '--vaddr': 1,
    '--vport': 1,
    '--vdir': 1,
    '--vmethod': 1,
    '--vportctl': 1,
  },
  DNAT: { '--to-destination': 1, '--random': 0, '--persistent': 0 },
  SNAT: { '--to-source': 1, '--random': 0, '--random-fully': 0, '--persistent': 0 },
  MASQUERADE: { '--to-ports': 1, '--random': 0, '--random-fully': 0 },
  REDIRECT: { '--to-ports': 1, '--random': 0 },
  REJECT: { '--reject-with': 1 },
  MARK: { '--set-mark': 1, '--set-xmark': 1, '--or-mark': 1, '--and-mark': 1, '--xor-mark': 1 },
  CONNMARK: { '--set-mark': 1, '--save-mark': 0, '--restore-mark': 0, '--mask': 1 },
  LOG: { '--log-prefix': 1, '--log-level': 1 },
  CT: { '--notrack': 0, '--zone': 1 },
  NOTRACK: {},
  ACCEPT: {},
  DROP: {},
  RETURN: {},
  QUEUE: {},
};

interface ModuleBlock {
  readonly name: string;
  readonly isTarget: boolean;
  readonly options: {
    readonly option: string;
    readonly negated: boolean;
    readonly values: readonly string[];
  }[];
}

/**
 * Parses a rule given as restore text (what follows `-A CHAIN `).
 *
 * @param text the rule arguments
 * @param options the family (IPv4 unless told)
 * @returns the parsed rule
 * @throws RuleSyntaxError when iptables would refuse the rule
 * @example parseRule('-d 10.0.0.1/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-X').target // { kind: 'jump', ... }
 */
export function parseRule(text: string, options: ParseRuleOptions = {}): ParsedRule {
  return parseRuleTokens(tokenizeRestoreLine(text), options);
}

/**
 * Parses a rule given as arguments.
 *
 * @param tokens the rule arguments
 * @param options the family (IPv4 unless told)
 * @returns the parsed rule
 * @throws RuleSyntaxError when iptables would refuse the rule
 * @example parseRuleTokens(['-j', 'ACCEPT']).target // { kind: 'ACCEPT' }
 */
export function parseRuleTokens(tokens: readonly string[], options: ParseRuleOptions = {}): ParsedRule {
  const family = options.family ?? 'IPv4';
  let source: AddressMatch | undefined;
  let destination: AddressMatch | undefined;
  let protocol: ParsedRule['protocol'];
  let inInterface: ParsedRule['inInterface'];
  let outInterface: ParsedRule['outInterface'];
  const blocks: ModuleBlock[] = [];
  let current: ModuleBlock | undefined;
  let targetBlock: ModuleBlock | undefined;
  let targetName: string | undefined;
  let goto = false;
  let negate = false;
  const unsupported: string[] = [];

  const value = (i: number, option: string): string => {
    const v = tokens[i];
    if (v === undefined) throw new RuleSyntaxError(`Option ${option} needs a value`);
    return v;
  };

  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if (tok === '!') {
      if (negate) throw new RuleSyntaxError('Double negation');
      negate = true;
      continue;
    }
    const wasNegated = negate;
    negate = false;
    switch (tok) {
      case '-s':
      case '--source':
      case '-d':
      case '--destination': {
        const m = addressMatch(value(++i, tok), tok, wasNegated, family);
        if (tok === '-s' || tok === '--source') source = m;
        else destination = m;
        continue;
      }
      case '-p':
      case '--protocol':
        protocol = { negated: wasNegated, name: value(++i, tok).toLowerCase() };
        continue;
      case '-i':
      case '--in-interface':
        inInterface = { negated: wasNegated, name: value(++i, tok) };
        continue;
      case '-o':
      case '--out-interface':
        outInterface = { negated: wasNegated, name: value(++i, tok) };
        continue;
      case '-m':
      case '--match': {
        const name = value(++i, tok);
        if (MODULE_OPTIONS[name] === undefined) throw new RuleSyntaxError(`Couldn't load match: ${name}`);
        current = { name, isTarget: false, options: [] };
        blocks.push(current);
        continue;
      }
      case '-j':
      case '--jump':
      case '-g':
      case '--goto': {
        if (targetName !== undefined) throw new RuleSyntaxError('Only one target per rule');
        targetName = value(++i, tok);
        goto = tok === '-g' || tok === '--goto';
        current = { name: targetName, isTarget: true, options: [] };
        targetBlock = current;
        continue;
      }
      default:
        break;
    }
    if (!tok.startsWith('--')) throw new RuleSyntaxError(`Bad argument: ${tok}`);
    // An option of the current module; a port option may also belong to the protocol's implicit match.
    let block = current;
    if (block === undefined || MODULE_OPTIONS[block.name]?.[tok] === undefined) {
      const proto = protocol?.name;
      if (proto !== undefined && MODULE_OPTIONS[proto]?.[tok] !== undefined && !(block?.isTarget ?? false)) {
        block = blocks.find((b) => b.name === proto);
        if (block === undefined) {
          block = { name: proto, isTarget: false, options: [] };
          blocks.push(block);
        }
      } else if (block !== undefined && MODULE_OPTIONS[block.name] === undefined) {
        // A target extension this parser does not know: keep its options unparsed.
        const v = tokens[i + 1];
        const values = v !== undefined && !v.startsWith('-') ? [v] : [];
        i += values.length;
        block.options.push({ option: tok, negated: wasNegated, values });
        continue;
      } else {
        throw new RuleSyntaxError(`Unknown option ${tok}${block ? ` for ${block.name}` : ''}`);
      }
    }
    const arity = MODULE_OPTIONS[block.name]?.[tok] ?? 0;
    const values: string[] = [];
    for (let k = 0; k < arity; k++) values.push(value(++i, tok));
    block.options.push({ option: tok, negated: wasNegated, values });
  }
  if (negate) throw new RuleSyntaxError('Negation without an option');

  const matches: MatchSpec[] = [];
  for (const b of blocks) {
    const m = toMatch(b, unsupported);
    if (m !== undefined) matches.push(m);
  }
  const target =
    targetName === undefined ? undefined : toTarget(targetName, goto, targetBlock!, protocol, unsupported);
  return { source, destination, protocol, inInterface, outInterface, matches, target, unsupported };
}

function addressMatch(raw: string, option: string, negated: boolean, family: IPFamily): AddressMatch {
  if (family === 'IPv6') {
    const cidr = parseIpv6Cidr(raw);
    if (cidr === undefined) throw new RuleSyntaxError(`Bad address for ${option}: ${raw}`);
    return { negated, family, cidr };
  }
  const cidr = parseIpv4Cidr(raw);
  if (cidr === undefined) throw new RuleSyntaxError(`Bad address for ${option}: ${raw}`);
  return { negated, family, cidr };
}

function opt(b: ModuleBlock, ...names: string[]): ModuleBlock['options'][number] | undefined {
  return b.options.find((o) => names.includes(o.option));
}

function parsePortRange(text: string, negated: boolean): PortMatch {
  const m = /^(\d{1,5})(?::(\d{1,5}))?$/.exec(text);
  if (m === null) throw new RuleSyntaxError(`Bad port: ${text}`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from > 65535 || to > 65535 || to < from) throw new RuleSyntaxError(`Bad port: ${text}`);
  return { negated, from, to };
}

function parseNumber(text: string): number {
  const n = text.startsWith('0x') ? Number.parseInt(text.slice(2), 16) : Number(text);
  if (!Number.isFinite(n) || n < 0 || n > 0xffffffff) throw new RuleSyntaxError(`Bad number: ${text}`);
  return n;
}

function parseMark(text: string): { value: number; mask: number } {
  const [v, m] = text.split('/');
  return { value: parseNumber(v ?? ''), mask: m === undefined ? 0xffffffff : parseNumber(m) };
}

function toMatch(b: ModuleBlock, unsupported: string[]): MatchSpec | undefined {
  switch (b.name) {
    case 'comment':
      return { kind: 'comment', text: opt(b, '--comment')?.values[0] ?? '' };
    case 'tcp':
    case 'udp':
    case 'sctp': {
      const d = opt(b, '--dport', '--destination-port');
      const s = opt(b, '--sport', '--source-port');
      if (opt(b, '--syn', '--tcp-flags')) unsupported.push(`-m ${b.name} flags`);
      return {
        kind: 'port',
        protocol: b.name,
        ...(d ? { dport: parsePortRange(d.values[0]!, d.negated) } : {}),
        ...(s ? { sport: parsePortRange(s.values[0]!, s.negated) } : {}),
      };
    }
    case 'addrtype': {
      const s = opt(b, '--src-type');
      const d = opt(b, '--dst-type');
      return {
        kind: 'addrtype',
        ...(s ? { srcType: { negated: s.negated, types: s.values[0]!.split(',') } } : {}),
        ...(d ? { dstType: { negated: d.negated, types: d.values[0]!.split(',') } } : {}),
      };
    }
    case 'statistic': {
      const mode = opt(b, '--mode')?.values[0];
      const p = opt(b, '--probability')?.values[0];
      if (mode !== 'random' || p === undefined) {
        unsupported.push(`-m statistic --mode ${mode ?? '?'}`);
        return undefined;
      }
      const probability = Number(p);
      if (!(probability >= 0 && probability <= 1)) throw new RuleSyntaxError(`Bad probability: ${p}`);
      return { kind: 'statistic', probability };
    }
    case 'recent': {
      const modes = (['set', 'rcheck', 'update', 'remove'] as const).filter((m) => opt(b, `--${m}`));
      if (modes.length !== 1)
        throw new RuleSyntaxError('recent needs exactly one of --set/--rcheck/--update/--remove');
      const seconds = opt(b, '--seconds')?.values[0];
      return {
        kind: 'recent',
        mode: modes[0]!,
        name: opt(b, '--name')?.values[0] ?? 'DEFAULT',
        seconds: seconds === undefined ? undefined : parseNumber(seconds),
      };
    }
    case 'mark': {
      const m = opt(b, '--mark');
      if (m === undefined) throw new RuleSyntaxError('mark needs --mark');
      return { kind: 'mark', negated: m.negated, ...parseMark(m.values[0]!) };
    }
    case 'conntrack': {
      const s = opt(b, '--ctstate');
      if (s === undefined || b.options.length !== 1) unsupported.push('-m conntrack (other than --ctstate)');
      if (s === undefined) return undefined;
      return { kind: 'conntrack', negated: s.negated, states: s.values[0]!.split(',') };
    }
    case 'set': {
      const s = opt(b, '--match-set');
      if (s === undefined) throw new RuleSyntaxError('set needs --match-set');
      return { kind: 'set', negated: s.negated, name: s.values[0]!, flags: s.values[1]!.split(',') };
    }
    case 'multiport': {
      const d = opt(b, '--dports', '--destination-ports');
      if (d === undefined) {
        unsupported.push('-m multiport (other than --dports)');
        return undefined;
      }
      return {
        kind: 'multiport',
        negated: d.negated,
        ports: d.values[0]!.split(',').map((p) => parsePortRange(p, false)),
      };
    }
    default:
      unsupported.push(`-m ${b.name}`);
      return undefined;
  }
}

function toTarget(
  name: string,
  goto: boolean,
  b: ModuleBlock,
  protocol: ParsedRule['protocol'],
  unsupported: string[],
): TargetSpec {
  switch (name) {
    case 'ACCEPT':
    case 'DROP':
    case 'RETURN':
      return { kind: name };
    case 'REJECT':
      return { kind: 'REJECT', with: opt(b, '--reject-with')?.values[0] };
    case 'DNAT':
    case 'SNAT': {
      const to = opt(b, name === 'DNAT' ? '--to-destination' : '--to-source')?.values[0];
      if (to === undefined) throw new RuleSyntaxError(`${name} needs a destination`);
      const withPort = /:\d+$/.test(to);
      if (withPort && !['tcp', 'udp', 'sctp'].includes(protocol?.name ?? '')) {
        throw new RuleSyntaxError(`${name} with a port needs -p tcp, udp or sctp`);
      }
      return { kind: name, to };
    }
    case 'MASQUERADE':
      return { kind: 'MASQUERADE' };
    case 'MARK': {
      const o = opt(b, '--set-mark', '--set-xmark', '--or-mark', '--and-mark', '--xor-mark');
      if (o === undefined) throw new RuleSyntaxError('MARK needs an operation');
      const { value, mask } = parseMark(o.values[0]!);
      switch (o.option) {
        case '--or-mark':
          return { kind: 'MARK', op: 'or', value, mask: 0 };
        case '--xor-mark':
          return { kind: 'MARK', op: 'xor', value, mask: 0 };
        case '--and-mark':
          return { kind: 'MARK', op: 'and', value, mask: 0 };
        case '--set-mark':
          // --set-mark V/M is --set-xmark V/M with the bits of V kept inside M (iptables semantics).
          return { kind: 'MARK', op: 'setx', value, mask };
        default:
          return { kind: 'MARK', op: 'setx', value, mask };
      }
    }
    default:
      if (EXTENSION_TARGETS.has(name)) {
        unsupported.push(`-j ${name}`);
        return { kind: 'other', name };
      }
      return { kind: 'jump', chain: name, goto };
  }
}
