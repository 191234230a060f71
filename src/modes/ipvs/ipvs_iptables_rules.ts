/**
 * The small, fixed iptables ruleset around IPVS (upstream's writeIptablesRules): masquerade marks for
 * off-cluster and hairpin traffic, NodePort and load-balancer matching through ipsets, the load-balancer
 * source-range firewall, and the reject of new connections to a VIP port that no service serves.
 *
 * Chain names are upstream's (shared with the iptables mode: KUBE-SERVICES, KUBE-MARK-MASQ,
 * KUBE-POSTROUTING). Consolidation note: once src/kernel/iptables*.ts has a stable restore/jump API, the
 * applier (src/kernel/ipvs_iptables.ts) should move onto it; the rules stay here.
 *
 * @module
 */
import type { IPFamily } from '../../model/types.ts';
import type { IpvsSetName } from './ipvs_ipsets.ts';

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

/** A jump from a built-in chain into one of kproxy's chains. */
export interface JumpRule {
  readonly table: 'nat' | 'filter';
  readonly from: string;
  readonly to: string;
  readonly comment: string;
}

/** The jumps, in upstream's order (each is inserted first in its built-in chain). */
export const IPVS_JUMPS: readonly JumpRule[] = [
  { table: 'nat', from: 'OUTPUT', to: 'KUBE-SERVICES', comment: 'kubernetes service portals' },
  { table: 'nat', from: 'PREROUTING', to: 'KUBE-SERVICES', comment: 'kubernetes service portals' },
  { table: 'nat', from: 'POSTROUTING', to: 'KUBE-POSTROUTING', comment: 'kubernetes postrouting rules' },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-FORWARD', comment: 'kubernetes forwarding rules' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-NODE-PORT', comment: 'kubernetes health check rules' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-PROXY-FIREWALL', comment: 'kube-proxy firewall rules' },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-PROXY-FIREWALL', comment: 'kube-proxy firewall rules' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-IPVS-FILTER', comment: 'kubernetes ipvs access filter' },
  { table: 'filter', from: 'OUTPUT', to: 'KUBE-IPVS-OUT-FILTER', comment: 'kubernetes ipvs access filter' },
];

/**
 * The rule text of a jump, as iptables-save prints it.
 *
 * @param jump the jump
 * @returns e.g. `-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`
 */
export function jumpRuleText(jump: JumpRule): string {
  return `-A ${jump.from} -m comment --comment "${jump.comment}" -j ${jump.to}`;
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
  /** The family's cluster CIDR (the local-traffic detector); undefined = unknown. */
  readonly clusterCIDR: string | undefined;
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
 * Renders the rules of kproxy's chains for one family (without chain declarations or COMMIT).
 *
 * @param input sets, flags and family
 * @returns the `-A` lines of the nat and filter tables
 */
export function renderIpvsIptablesRules(input: IptablesRulesInput): {
  readonly natRules: readonly string[];
  readonly filterRules: readonly string[];
} {
  const nat: string[] = [];
  const filter: string[] = [];
  const mark = `0x${(1 << input.masqueradeBit).toString(16)}`;
  const matchSet = (name: IpvsSetName, match: string) => `-m set --match-set ${input.setName(name)} ${match}`;
  const commented = (name: IpvsSetName) => `-m comment --comment "${input.comment(name)}"`;

  nat.push(`-A KUBE-SERVICES -s ${input.family === 'IPv4' ? '127.0.0.0/8' : '::1/128'} -j RETURN`);
  for (const rule of SET_RULES) {
    if (input.isEmpty(rule.set)) continue;
    const protocol = rule.protocol === undefined ? '' : `-p ${rule.protocol} `;
    const line = `-A ${rule.from} ${protocol}${commented(rule.set)} ${matchSet(rule.set, rule.match)} -j ${rule.to}`;
    (rule.table === 'nat' ? nat : filter).push(line);
  }
  if (!input.isEmpty('KUBE-CLUSTER-IP')) {
    const head = `-A KUBE-SERVICES ${commented('KUBE-CLUSTER-IP')}`;
    if (input.masqueradeAll) {
      nat.push(`${head} ${matchSet('KUBE-CLUSTER-IP', 'dst,dst')} -j KUBE-MARK-MASQ`);
    } else if (input.clusterCIDR !== undefined) {
      // Off-cluster traffic to a VIP (a static route to the service range) may bounce off-node: masquerade.
      nat.push(
        `${head} ${matchSet('KUBE-CLUSTER-IP', 'dst,dst')} ! -s ${input.clusterCIDR} -j KUBE-MARK-MASQ`,
      );
    } else {
      // The node picks a VIP on kube-ipvs0 as source for its own connections to a VIP: masquerade those.
      nat.push(`${head} ${matchSet('KUBE-CLUSTER-IP', 'src,dst')} -j KUBE-MARK-MASQ`);
    }
  }
  const externalAccept = (head: string) => {
    nat.push(`${head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`);
    nat.push(`${head} -m addrtype --dst-type LOCAL -j ACCEPT`);
  };
  if (!input.isEmpty('KUBE-EXTERNAL-IP')) {
    const head = `-A KUBE-SERVICES ${commented('KUBE-EXTERNAL-IP')} ${matchSet('KUBE-EXTERNAL-IP', 'dst,dst')}`;
    nat.push(`${head} -j KUBE-MARK-MASQ`);
    externalAccept(head);
  }
  if (!input.isEmpty('KUBE-EXTERNAL-IP-LOCAL')) {
    externalAccept(
      `-A KUBE-SERVICES ${commented('KUBE-EXTERNAL-IP-LOCAL')} ${matchSet('KUBE-EXTERNAL-IP-LOCAL', 'dst,dst')}`,
    );
  }
  nat.push('-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT');
  nat.push('-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ');
  filter.push('-A KUBE-SOURCE-RANGES-FIREWALL -j DROP');
  for (const e of input.lbNoNodeAccess) {
    filter.push(
      `-A KUBE-IPVS-OUT-FILTER -s ${e.ip} -m ipvs --vaddr ${e.ip} --vproto ${e.protocol} --vport ${e.port} -j DROP`,
    );
  }
  // Accept traffic to IPVS virtual servers in case other rules would drop it (end of KUBE-SERVICES).
  for (const set of ['KUBE-CLUSTER-IP', 'KUBE-LOAD-BALANCER'] as const) {
    if (!input.isEmpty(set)) nat.push(`-A KUBE-SERVICES ${matchSet(set, 'dst,dst')} -j ACCEPT`);
  }
  filter.push(
    `-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
  );
  filter.push(
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  );
  filter.push(
    `-A KUBE-NODE-PORT ${commented('KUBE-HEALTH-CHECK-NODE-PORT')} ${matchSet('KUBE-HEALTH-CHECK-NODE-PORT', 'dst')} -j ACCEPT`,
  );
  // New connections to a VIP on a port no service serves must not reach the node's own sockets.
  for (const [set, match] of [
    ['KUBE-LOAD-BALANCER', 'dst,dst'],
    ['KUBE-CLUSTER-IP', 'dst,dst'],
    ['KUBE-EXTERNAL-IP', 'dst,dst'],
    ['KUBE-EXTERNAL-IP-LOCAL', 'dst,dst'],
    ['KUBE-HEALTH-CHECK-NODE-PORT', 'dst'],
  ] as const) {
    filter.push(`-A KUBE-IPVS-FILTER ${matchSet(set, match)} -j RETURN`);
  }
  filter.push(`-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW ${matchSet('KUBE-IPVS-IPS', 'dst')} -j REJECT`);
  nat.push(`-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`);
  nat.push(`-A KUBE-POSTROUTING -j MARK --xor-mark ${mark}`);
  nat.push(
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
  );
  nat.push(`-A KUBE-MARK-MASQ -j MARK --or-mark ${mark}`);
  return { natRules: nat, filterRules: filter };
}

/**
 * The iptables-restore input for one family's chains: declarations (which, with --noflush, empty the
 * chains first) and rules, for nat then filter.
 *
 * @param rules the family's rules
 * @returns the restore text
 */
export function renderIptablesRestore(rules: {
  readonly natRules: readonly string[];
  readonly filterRules: readonly string[];
}): string {
  const lines = [
    '*nat',
    ...IPVS_NAT_CHAINS.map((c) => `:${c} - [0:0]`),
    ...rules.natRules,
    'COMMIT',
    '*filter',
    ...IPVS_FILTER_CHAINS.map((c) => `:${c} - [0:0]`),
    ...rules.filterRules,
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}
