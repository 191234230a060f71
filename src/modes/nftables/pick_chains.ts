/**
 * The shared ClusterIP chains: one per endpoint map (protocol and group) that ClusterIP-only service
 * ports pick their endpoints from, holding one rule per such service port, in slot order:
 * `ip daddr VIP PROTO dport PORT meta l4proto PROTO dnat ip to numgen random mod N offset K map
 * @endpoints-PROTO-GROUP`. The service-ips element of the cluster IP goes to the chain of its group.
 *
 * Why not a chain per service port, as upstream has: nft 1.0.6 (Debian 12) lists every chain of the
 * table before it adds or deletes a set element, so at 10 000 service ports a one-endpoint change cost
 * ~40 ms of nft for a 7-line script; with these chains (a group holds at most 64 service ports, so ~160
 * chains at 10 000) it costs ~15 ms (docs/nftables-mode.md). The price is a walk over at most 64 rules,
 * each failing at its first comparison, for the first packet of a connection: bounded whatever the
 * number of services. Service ports with an external chain (NodePort, external and load-balancer IPs)
 * keep their own `service-` chain, which the external chain jumps to with the node's or external
 * address as destination.
 *
 * A re-plan rebuilds only the chains of groups a changed service port had or has a rule in, and keeps
 * the other chains (the same objects), so that a partial sync skips them by reference.
 *
 * @module
 */
import type { ServicePortKey } from '../../model/types.ts';
import { slotGroup } from './endpoint_slots.ts';
import { clusterIpChainName, endpointMapName } from './names.ts';
import type { NftChain } from './ruleset.ts';
import type { NftServicePort, PickRule } from './service_port.ts';

/** What a re-plan of the ClusterIP chains starts from. */
export interface PickChainsReuse {
  /** The previous plan's ClusterIP chains. */
  readonly chains: readonly NftChain[];
  /** The previous plan's service ports. */
  readonly previousPorts: ReadonlyMap<ServicePortKey, NftServicePort>;
  /** Service ports re-planned, added or removed since (the others are the same objects). */
  readonly touched: ReadonlySet<ServicePortKey>;
}

function chainOf(p: PickRule): string {
  return clusterIpChainName(p.protocol, slotGroup(p.slot));
}

/** Orders chain names by protocol, then group as a number. */
function compareChainNames(a: string, b: string): number {
  const [, pa = '', ga = ''] = a.split('-');
  const [, pb = '', gb = ''] = b.split('-');
  return pa < pb ? -1 : pa > pb ? 1 : Number(ga) - Number(gb);
}

/**
 * Builds the shared ClusterIP chains of a plan.
 *
 * @param ports the plan's service ports
 * @param sources container name → the service ports with elements in it (plan_containers.ts)
 * @param reuse the previous plan's chains and what changed, to rebuild only the groups touched
 * @returns the chains, ordered by protocol and group
 * @example planPickChains(servicePorts, containers.sources).map((c) => c.name) // ['clusterip-tcp-0', 'clusterip-udp-0']
 */
export function planPickChains(
  ports: ReadonlyMap<ServicePortKey, NftServicePort>,
  sources: ReadonlyMap<string, readonly ServicePortKey[]>,
  reuse?: PickChainsReuse,
): NftChain[] {
  let wanted: Set<string> | undefined;
  if (reuse !== undefined) {
    wanted = new Set();
    for (const key of reuse.touched) {
      for (const p of reuse.previousPorts.get(key)?.picks ?? []) wanted.add(chainOf(p));
      for (const p of ports.get(key)?.picks ?? []) wanted.add(chainOf(p));
    }
  }
  const kept = new Map<string, NftChain>();
  for (const c of reuse?.chains ?? []) if (!wanted?.has(c.name)) kept.set(c.name, c);
  const building = new Map<string, PickRule[]>();
  const add = (sp: NftServicePort | undefined): void => {
    for (const p of sp?.picks ?? []) {
      const name = chainOf(p);
      if (wanted !== undefined && !wanted.has(name)) continue;
      const list = building.get(name);
      if (list === undefined) building.set(name, [p]);
      else list.push(p);
    }
  };
  if (wanted === undefined) {
    for (const sp of ports.values()) add(sp);
  } else {
    // A group's service ports are among its endpoint map's sources: no need to look at every port.
    const candidates = new Set<ServicePortKey>();
    for (const name of wanted) {
      const [, protocol = '', group = ''] = name.split('-');
      for (const value of ['addresses', 'pairs'] as const) {
        const map = endpointMapName(protocol, Number(group), value);
        for (const key of sources.get(map) ?? []) candidates.add(key);
      }
    }
    for (const key of candidates) add(ports.get(key));
    for (const name of wanted) if (!building.has(name)) building.set(name, []);
  }
  const out = new Map(kept);
  for (const [name, picks] of building) {
    if (picks.length === 0) continue;
    picks.sort((a, b) => a.slot - b.slot);
    out.set(name, { name, comment: undefined, rules: picks.map((p) => p.rule) });
  }
  return [...out.keys()].sort(compareChainNames).map((name) => out.get(name)!);
}
