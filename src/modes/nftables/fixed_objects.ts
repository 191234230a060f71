/**
 * The objects every nftables plan has, whatever the services (upstream's setupNFTables): the base chains
 * on the netfilter hooks, the dispatch chains they jump to, the masquerade chains, and the shared sets
 * and verdict maps that service ports fill.
 *
 * Hooks and priorities are upstream's (1.33): the source-range firewall runs before DNAT
 * (prerouting/output at -110) so that it sees the service IP; the no-endpoint checks run after DNAT
 * (input/forward/output at 0), where only traffic that no service chain DNATed still has a service IP as
 * its destination, and `reject` is allowed there on every kernel; DNAT at dstnat (-100); masquerading
 * at srcnat (100).
 *
 * @module
 */
import type { LocalMatch } from '../common/local_detector.ts';
import { nftLocalMatch } from './local_match.ts';
import { NFT_NAMES } from './names.ts';
import {
  type NftBaseChain,
  type NftChain,
  type NftContainer,
  type NftFamily,
  type NftKeyType,
  type NftMatch,
  type NftRule,
  rule,
} from './ruleset.ts';

const NEW: NftMatch = { kind: 'ct-state-new' };

function jumpOnNew(chain: string): NftRule {
  return rule({ matches: [NEW], action: { kind: 'jump', chain } });
}

function baseChain(
  name: string,
  type: NftBaseChain['type'],
  hook: NftBaseChain['hook'],
  priority: number,
  rules: readonly NftRule[],
): NftBaseChain {
  return { name, type, hook, priority, comment: undefined, rules };
}

function chain(name: string, rules: readonly NftRule[], comment?: string): NftChain {
  return { name, comment, rules };
}

/**
 * The base chains, in the order a packet meets them (prerouting, input, forward, output, postrouting; by
 * priority within a hook).
 *
 * @returns upstream's eight base chains with their jumps
 * @example baseChains()[0].name // 'filter-prerouting-pre-dnat'
 */
export function baseChains(): NftBaseChain[] {
  const n = NFT_NAMES;
  const jumpTo = (target: string): NftRule => rule({ action: { kind: 'jump', chain: target } });
  return [
    baseChain(n.filterPreroutingPreDnat, 'filter', 'prerouting', -110, [jumpOnNew(n.firewallCheck)]),
    baseChain(n.natPrerouting, 'nat', 'prerouting', -100, [jumpTo(n.services)]),
    baseChain(n.filterInput, 'filter', 'input', 0, [
      jumpOnNew(n.nodePortEndpointsCheck),
      jumpOnNew(n.serviceEndpointsCheck),
    ]),
    baseChain(n.filterForward, 'filter', 'forward', 0, [
      jumpOnNew(n.serviceEndpointsCheck),
      jumpOnNew(n.clusterIPsCheck),
    ]),
    baseChain(n.filterOutputPreDnat, 'filter', 'output', -110, [jumpOnNew(n.firewallCheck)]),
    baseChain(n.natOutput, 'nat', 'output', -100, [jumpTo(n.services)]),
    baseChain(n.filterOutput, 'filter', 'output', 0, [
      jumpOnNew(n.serviceEndpointsCheck),
      jumpOnNew(n.clusterIPsCheck),
    ]),
    baseChain(n.natPostrouting, 'nat', 'postrouting', 100, [jumpTo(n.masquerading)]),
  ];
}

/** What shapes the fixed chains. */
export interface FixedChainOptions {
  readonly family: NftFamily;
  /** The masquerade mark, e.g. `0x4000`. */
  readonly mark: string;
  /** NodePorts only on the addresses of the nodeport-ips set (`--nodeport-addresses`), else on every local one. */
  readonly nodePortIPsSet: boolean;
  /** `--masquerade-all`: every packet to a cluster IP is masqueraded. */
  readonly masqueradeAll: boolean;
  /** Local (pod) traffic: packets from elsewhere to a cluster IP are masqueraded; undefined when unknown. */
  readonly local: LocalMatch | undefined;
}

/**
 * The rule that marks packets to a cluster IP for masquerading: all of them (`--masquerade-all`), or those
 * from outside the cluster CIDR (they may be routed off the node to the endpoint, whose reply must come
 * back through it). Upstream writes one such rule per service port, into the chain cluster-IP traffic
 * goes to; one rule on @cluster-ips marks the same packets that a service port DNATs (a packet to a
 * cluster IP that no service port takes is rejected or dropped, and its mark never matters), and it costs
 * one rule instead of 10 000 at 10 000 services (a quarter of a second of a full sync, measured).
 */
function clusterIPMasquerade(options: FixedChainOptions): NftRule[] {
  const n = NFT_NAMES;
  const toClusterIP: NftMatch = {
    kind: 'address',
    field: 'daddr',
    negated: false,
    operand: { kind: 'set', set: n.clusterIPs },
  };
  const mark: NftRule['action'] = { kind: 'jump', chain: n.markForMasquerade };
  if (options.masqueradeAll) return [rule({ matches: [toClusterIP], action: mark })];
  if (options.local === undefined) return [];
  const fromOutside = nftLocalMatch(options.local, true);
  return [rule({ matches: [toClusterIP, fromOutside], action: mark })];
}

function loopback(family: NftFamily): string {
  return family === 'ip' ? '127.0.0.0/8' : '::1';
}

/**
 * The regular chains every plan has, in declaration order.
 *
 * @param options the mark, the NodePort address choice and how cluster-IP traffic is masqueraded
 * @returns the dispatch, check, reject and masquerade chains
 * @example fixedChains({ family: 'ip', mark: '0x4000', nodePortIPsSet: false, masqueradeAll: false, local: undefined }).map((c) => c.name)
 */
export function fixedChains(options: FixedChainOptions): NftChain[] {
  const n = NFT_NAMES;
  // NodePort destinations: the listed node IPs, or any local address but loopback (no localhost NodePorts).
  const nodePortDestination: NftMatch[] = options.nodePortIPsSet
    ? [{ kind: 'address', field: 'daddr', negated: false, operand: { kind: 'set', set: n.nodePortIPs } }]
    : [
        {
          kind: 'address',
          field: 'daddr',
          negated: true,
          operand: { kind: 'prefixes', prefixes: [loopback(options.family)] },
        },
      ];
  return [
    chain(n.services, [
      ...clusterIPMasquerade(options),
      rule({ action: { kind: 'vmap', key: 'destination', map: n.serviceIPs } }),
      rule({
        matches: options.nodePortIPsSet
          ? nodePortDestination
          : [{ kind: 'fib-local', field: 'daddr' }, ...nodePortDestination],
        action: { kind: 'vmap', key: 'port', map: n.serviceNodePorts },
      }),
    ]),
    chain(n.firewallCheck, [rule({ action: { kind: 'vmap', key: 'destination', map: n.firewallIPs } })]),
    chain(n.serviceEndpointsCheck, [
      rule({ action: { kind: 'vmap', key: 'destination', map: n.noEndpointServices } }),
    ]),
    chain(n.nodePortEndpointsCheck, [
      rule({
        matches: nodePortDestination,
        action: { kind: 'vmap', key: 'port', map: n.noEndpointNodePorts },
      }),
    ]),
    chain(n.clusterIPsCheck, [
      rule({
        matches: [
          { kind: 'address', field: 'daddr', negated: false, operand: { kind: 'set', set: n.clusterIPs } },
        ],
        action: { kind: 'reject' },
        comment: 'Reject traffic to invalid ports of ClusterIPs',
      }),
    ]),
    chain(
      n.rejectChain,
      [rule({ action: { kind: 'reject' } })],
      'helper for @no-endpoint-services / @no-endpoint-nodeports',
    ),
    chain(n.markForMasquerade, [rule({ statements: [{ kind: 'mark-or', mark: options.mark }] })]),
    chain(n.masquerading, [
      // Hairpin: an endpoint that reached itself through a service (only the DNATed destination says so).
      rule({
        matches: [{ kind: 'ct-status-dnat' }, { kind: 'address-pair', set: n.hairpinEndpoints }],
        action: { kind: 'jump', chain: n.markForMasquerade },
      }),
      rule({ matches: [{ kind: 'mark-unset', mark: options.mark }], action: { kind: 'return' } }),
      // Clear the bit, so that a packet that passes through the stack again is not masqueraded twice.
      rule({ statements: [{ kind: 'mark-xor', mark: options.mark }] }),
      rule({ action: { kind: 'masquerade' } }),
    ]),
  ];
}

/**
 * The address key type of a family.
 *
 * @param family `ip` or `ip6`
 * @returns `ipv4_addr` or `ipv6_addr`
 * @example addressType('ip') // 'ipv4_addr'
 */
export function addressType(family: NftFamily): NftKeyType {
  return family === 'ip' ? 'ipv4_addr' : 'ipv6_addr';
}

/**
 * The shared sets and maps, empty (the plan fills in the elements), in declaration order.
 *
 * @param family the table's family
 * @param nodePortIPsSet whether `--nodeport-addresses` restricts NodePorts (the nodeport-ips set exists)
 * @returns canary, cluster-ips, [nodeport-ips], firewall-ips, hairpin-endpoints, no-endpoint-nodeports, no-endpoint-services, service-ips, service-nodeports
 * @example sharedContainers('ip', false).map((c) => c.name)
 */
export function sharedContainers(family: NftFamily, nodePortIPsSet: boolean): NftContainer[] {
  const n = NFT_NAMES;
  const addr = addressType(family);
  const destination: NftKeyType[] = [addr, 'inet_proto', 'inet_service'];
  const port: NftKeyType[] = ['inet_proto', 'inet_service'];
  const set = (name: string, comment: string, keyType: NftKeyType[] = [addr]): NftContainer => ({
    kind: 'set',
    name,
    keyType,
    comment,
    timeoutSeconds: undefined,
    elements: [],
  });
  const map = (name: string, keyType: NftKeyType[], comment: string): NftContainer => ({
    kind: 'map',
    name,
    keyType,
    comment,
    elements: [],
  });
  return [
    // Always empty: the applier lists it (a few milliseconds) to learn that nobody deleted the table.
    set(n.canary, 'absent when the table was deleted or replaced behind kproxy'),
    set(n.clusterIPs, 'Active ClusterIPs'),
    ...(nodePortIPsSet ? [set(n.nodePortIPs, 'IPs that accept NodePort traffic')] : []),
    map(n.firewallIPs, destination, 'destinations that are subject to LoadBalancerSourceRanges'),
    set(n.hairpinEndpoints, 'endpoints that may reach themselves through a service', [addr, addr]),
    map(n.noEndpointNodePorts, port, 'vmap to drop or reject packets to service nodeports with no endpoints'),
    map(n.noEndpointServices, destination, 'vmap to drop or reject packets to services with no endpoints'),
    map(n.serviceIPs, destination, 'ClusterIP, ExternalIP and LoadBalancer IP traffic'),
    map(n.serviceNodePorts, port, 'NodePort traffic'),
  ];
}
