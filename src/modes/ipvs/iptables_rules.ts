/**
 * The small, fixed iptables ruleset around IPVS (upstream's writeIptablesRules): masquerade marks for
 * off-cluster and hairpin traffic, NodePort and load-balancer matching through ipsets, the load-balancer
 * source-range firewall, and the reject of new connections to a VIP port that no service serves.
 *
 * Chain names are upstream's. KUBE-MARK-MASQ, KUBE-POSTROUTING, the accepting rules of KUBE-FORWARD and
 * the shape of the jumps are shared with the iptables mode (src/modes/common/iptables_base_chains.ts), as upstream's ipvs
 * proxier shares them with its iptables proxier; the Proxier applies the tables through the iptables seam.
 *
 * @module
 */
import { type ChainRules, commentMatch, type TableRules } from '../../kernel/iptables_restore.ts';
import type { IPFamily } from '../../model/types.ts';
import {
  forwardAcceptRules,
  type JumpRule,
  jumpRule,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_POSTROUTING,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  markMasqChain,
  masqueradeMark,
  postroutingChain,
} from '../common/iptables_base_chains.ts';
import { iptablesLocalMatch, type LocalMatch } from '../common/local_detector.ts';
import type { IpvsSetName } from './ipsets.ts';

/** kproxy's chains in the nat table. */
export const IPVS_NAT_CHAINS = [
  'KUBE-SERVICES',
  'KUBE-POSTROUTING',
  'KUBE-NODE-PORT',
  'KUBE-LOAD-BALANCER',
  'KUBE-MARK-MASQ',
] as const;

/** kproxy's chains in the filter table. */
export const IPVS_FILTER_CHAINS = [
  'KUBE-FORWARD',
  'KUBE-NODE-PORT',
  'KUBE-PROXY-FIREWALL',
  'KUBE-SOURCE-RANGES-FIREWALL',
  'KUBE-IPVS-FILTER',
  'KUBE-IPVS-OUT-FILTER',
] as const;

/**
 * The jumps from the built-in chains, in the order each built-in chain ends up with them (first = first
 * rule). Upstream lists them in the order it prepends them, so its last one per chain comes first here.
 */
export const IPVS_JUMPS: readonly JumpRule[] = [
  jumpRule('nat', 'OUTPUT', KUBE_SERVICES, 'kubernetes service portals'),
  jumpRule('nat', 'PREROUTING', KUBE_SERVICES, 'kubernetes service portals'),
  jumpRule('nat', 'POSTROUTING', KUBE_POSTROUTING, 'kubernetes postrouting rules'),
  jumpRule('filter', 'FORWARD', KUBE_PROXY_FIREWALL, 'kube-proxy firewall rules'),
  jumpRule('filter', 'FORWARD', KUBE_FORWARD, 'kubernetes forwarding rules'),
  jumpRule('filter', 'INPUT', 'KUBE-IPVS-FILTER', 'kubernetes ipvs access filter'),
  jumpRule('filter', 'INPUT', KUBE_PROXY_FIREWALL, 'kube-proxy firewall rules'),
  jumpRule('filter', 'INPUT', 'KUBE-NODE-PORT', 'kubernetes health check rules'),
  jumpRule('filter', 'OUTPUT', 'KUBE-IPVS-OUT-FILTER', 'kubernetes ipvs access filter'),
];

/**
 * Tells whether the ipvs mode creates a chain (for cleanup).
 *
 * @param table the table
 * @param chain the chain name
 * @returns true for the chains of {@link IPVS_NAT_CHAINS} in nat and {@link IPVS_FILTER_CHAINS} in filter
 * @example isIpvsModeChain('filter', 'KUBE-IPVS-FILTER') // true
 */
export function isIpvsModeChain(table: string, chain: string): boolean {
  const chains: readonly string[] =
    table === 'nat' ? IPVS_NAT_CHAINS : table === 'filter' ? IPVS_FILTER_CHAINS : [];
  return chains.includes(chain);
}

/** What the rules depend on. */
export interface IptablesRulesInput {
  readonly family: IPFamily;
  /** The family's kernel name of a set. */
  readonly setName: (name: IpvsSetName) => string;
  readonly isEmpty: (name: IpvsSetName) => boolean;
  readonly comment: (name: IpvsSetName) => string;
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  /** How the family's pod traffic is told apart (`--detect-local-mode`); undefined = it cannot be. */
  readonly local: LocalMatch | undefined;
  /** LB addresses the node may not reach itself (source ranges that exclude the node). */
  readonly lbNoNodeAccess: readonly {
    readonly ip: string;
    readonly protocol: string;
    readonly port: number;
  }[];
}

/** Upstream's table of set → rule (`-A FROM [-p P] -m set --match-set SET MATCH -j TO`), in order. */
const SET_RULES: readonly {
  readonly set: IpvsSetName;
  readonly table: 'nat' | 'filter';
  readonly from: string;
  readonly to: string;
  readonly match: string;
  readonly protocol?: string;
}[] = [
  { set: 'KUBE-LOOP-BACK', table: 'nat', from: 'KUBE-POSTROUTING', to: 'MASQUERADE', match: 'dst,dst,src' },
  {
    set: 'KUBE-LOAD-BALANCER',
    table: 'nat',
    from: 'KUBE-SERVICES',
    to: 'KUBE-LOAD-BALANCER',
    match: 'dst,dst',
  },
  {
    set: 'KUBE-LOAD-BALANCER-LOCAL',
    table: 'nat',
    from: 'KUBE-LOAD-BALANCER',
    to: 'RETURN',
    match: 'dst,dst',
  },
  {
    set: 'KUBE-NODE-PORT-LOCAL-TCP',
    table: 'nat',
    from: 'KUBE-NODE-PORT',
    to: 'RETURN',
    match: 'dst',
    protocol: 'tcp',
  },
  {
    set: 'KUBE-NODE-PORT-TCP',
    table: 'nat',
    from: 'KUBE-NODE-PORT',
    to: 'KUBE-MARK-MASQ',
    match: 'dst',
    protocol: 'tcp',
  },
  {
    set: 'KUBE-NODE-PORT-LOCAL-UDP',
    table: 'nat',
    from: 'KUBE-NODE-PORT',
    to: 'RETURN',
    match: 'dst',
    protocol: 'udp',
  },
  {
    set: 'KUBE-NODE-PORT-UDP',
    table: 'nat',
    from: 'KUBE-NODE-PORT',
    to: 'KUBE-MARK-MASQ',
    match: 'dst',
    protocol: 'udp',
  },
  {
    set: 'KUBE-NODE-PORT-LOCAL-SCTP-HASH',
    table: 'nat',
    from: 'KUBE-NODE-PORT',
    to: 'RETURN',
    match: 'dst,dst',
    protocol: 'sctp',
  },
  {
    set: 'KUBE-NODE-PORT-SCTP-HASH',
    table: 'nat',
    from: 'KUBE-NODE-PORT',
    to: 'KUBE-MARK-MASQ',
    match: 'dst,dst',
    protocol: 'sctp',
  },
  {
    set: 'KUBE-LOAD-BALANCER-FW',
    table: 'filter',
    from: 'KUBE-PROXY-FIREWALL',
    to: 'KUBE-SOURCE-RANGES-FIREWALL',
    match: 'dst,dst',
  },
  {
    set: 'KUBE-LOAD-BALANCER-SOURCE-CIDR',
    table: 'filter',
    from: 'KUBE-SOURCE-RANGES-FIREWALL',
    to: 'RETURN',
    match: 'dst,dst,src',
  },
  {
    set: 'KUBE-LOAD-BALANCER-SOURCE-IP',
    table: 'filter',
    from: 'KUBE-SOURCE-RANGES-FIREWALL',
    to: 'RETURN',
    match: 'dst,dst,src',
  },
];

/**
 * The rules of kproxy's chains for one family: the nat table, then the filter table, every chain of
 * {@link IPVS_NAT_CHAINS} and {@link IPVS_FILTER_CHAINS} (also the empty ones, so a sync flushes them).
 *
 * @param input sets, flags and family
 * @returns the two tables, ready for renderRestore or the iptables seam
 * @example ipvsIptablesTables(input)[0]?.table // 'nat'
 */
export function ipvsIptablesTables(input: IptablesRulesInput): readonly TableRules[] {
  const tables = {
    nat: new Map<string, string[]>(IPVS_NAT_CHAINS.map((c) => [c, []])),
    filter: new Map<string, string[]>(IPVS_FILTER_CHAINS.map((c) => [c, []])),
  };
  const nat = (chain: string, rule: string) => tables.nat.get(chain)!.push(rule);
  const filter = (chain: string, rule: string) => tables.filter.get(chain)!.push(rule);
  const mark = masqueradeMark(input.masqueradeBit);
  const matchSet = (name: IpvsSetName, match: string) => `-m set --match-set ${input.setName(name)} ${match}`;
  const commented = (name: IpvsSetName) => commentMatch(input.comment(name));

  nat(KUBE_SERVICES, `-s ${input.family === 'IPv4' ? '127.0.0.0/8' : '::1/128'} -j RETURN`);
  for (const rule of SET_RULES) {
    if (input.isEmpty(rule.set)) continue;
    const protocol = rule.protocol === undefined ? '' : `-p ${rule.protocol} `;
    tables[rule.table]
      .get(rule.from)!
      .push(`${protocol}${commented(rule.set)} ${matchSet(rule.set, rule.match)} -j ${rule.to}`);
  }
  if (!input.isEmpty('KUBE-CLUSTER-IP')) {
    const head = `${commented('KUBE-CLUSTER-IP')} ${matchSet('KUBE-CLUSTER-IP', 'dst,dst')}`;
    if (input.masqueradeAll) {
      nat(KUBE_SERVICES, `${head} -j ${KUBE_MARK_MASQ}`);
    } else if (input.local !== undefined) {
      // Off-cluster traffic to a VIP (a static route to the service range) may bounce off-node: masquerade.
      nat(KUBE_SERVICES, `${head} ${iptablesLocalMatch(input.local, true)} -j ${KUBE_MARK_MASQ}`);
    } else {
      // The node picks a VIP on kube-ipvs0 as source for its own connections to a VIP: masquerade those.
      nat(
        KUBE_SERVICES,
        `${commented('KUBE-CLUSTER-IP')} ${matchSet('KUBE-CLUSTER-IP', 'src,dst')} -j ${KUBE_MARK_MASQ}`,
      );
    }
  }
  const externalAccept = (head: string) => {
    nat(KUBE_SERVICES, `${head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`);
    nat(KUBE_SERVICES, `${head} -m addrtype --dst-type LOCAL -j ACCEPT`);
  };
  if (!input.isEmpty('KUBE-EXTERNAL-IP')) {
    const head = `${commented('KUBE-EXTERNAL-IP')} ${matchSet('KUBE-EXTERNAL-IP', 'dst,dst')}`;
    nat(KUBE_SERVICES, `${head} -j ${KUBE_MARK_MASQ}`);
    externalAccept(head);
  }
  if (!input.isEmpty('KUBE-EXTERNAL-IP-LOCAL')) {
    externalAccept(`${commented('KUBE-EXTERNAL-IP-LOCAL')} ${matchSet('KUBE-EXTERNAL-IP-LOCAL', 'dst,dst')}`);
  }
  nat(KUBE_SERVICES, '-m addrtype --dst-type LOCAL -j KUBE-NODE-PORT');
  nat('KUBE-LOAD-BALANCER', `-j ${KUBE_MARK_MASQ}`);
  filter('KUBE-SOURCE-RANGES-FIREWALL', '-j DROP');
  for (const e of input.lbNoNodeAccess) {
    filter(
      'KUBE-IPVS-OUT-FILTER',
      `-s ${e.ip} -m ipvs --vaddr ${e.ip} --vproto ${e.protocol} --vport ${e.port} -j DROP`,
    );
  }
  // Accept traffic to IPVS virtual servers in case other rules would drop it (end of KUBE-SERVICES).
  for (const set of ['KUBE-CLUSTER-IP', 'KUBE-LOAD-BALANCER'] as const) {
    if (!input.isEmpty(set)) nat(KUBE_SERVICES, `${matchSet(set, 'dst,dst')} -j ACCEPT`);
  }
  for (const rule of forwardAcceptRules(mark)) filter(KUBE_FORWARD, rule);
  filter(
    'KUBE-NODE-PORT',
    `${commented('KUBE-HEALTH-CHECK-NODE-PORT')} ${matchSet('KUBE-HEALTH-CHECK-NODE-PORT', 'dst')} -j ACCEPT`,
  );
  // New connections to a VIP on a port no service serves must not reach the node's own sockets.
  for (const [set, match] of [
    ['KUBE-LOAD-BALANCER', 'dst,dst'],
    ['KUBE-CLUSTER-IP', 'dst,dst'],
    ['KUBE-EXTERNAL-IP', 'dst,dst'],
    ['KUBE-EXTERNAL-IP-LOCAL', 'dst,dst'],
    ['KUBE-HEALTH-CHECK-NODE-PORT', 'dst'],
  ] as const) {
    filter('KUBE-IPVS-FILTER', `${matchSet(set, match)} -j RETURN`);
  }
  filter('KUBE-IPVS-FILTER', `-m conntrack --ctstate NEW ${matchSet('KUBE-IPVS-IPS', 'dst')} -j REJECT`);
  // After the hairpin rule (a KUBE-LOOP-BACK match, above): the iptables mode's masquerade of marked packets.
  for (const rule of postroutingChain(mark).rules) nat(KUBE_POSTROUTING, rule);
  for (const rule of markMasqChain(mark).rules) nat(KUBE_MARK_MASQ, rule);
  const chains = (map: Map<string, string[]>): ChainRules[] =>
    [...map].map(([name, rules]) => ({ name, rules }));
  return [
    { table: 'nat', chains: chains(tables.nat) },
    { table: 'filter', chains: chains(tables.filter) },
  ];
}
