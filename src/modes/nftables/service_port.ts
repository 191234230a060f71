/**
 * What one service port contributes to the nftables plan (upstream's per-service part of
 * syncProxyRules): its chains (`service-`, `local-`, `external-`, `firewall-`, and `endpoint-` with
 * session affinity), its session-affinity sets, its elements of the shared sets and verdict maps, and its
 * endpoints in the endpoint maps. Pure; a plan is these, keyed by service port, plus the fixed objects.
 *
 * @module
 */
import { cidrContainsIp, formatCidr } from '../../kernel/iptables_address.ts';
import type { Endpoint, ServicePortKey, ServicePortState } from '../../model/types.ts';
import type { LocalMatch } from '../common/local_detector.ts';
import { type ServicePortPolicy, servicePortPolicy } from '../common/service_port_policy.ts';
import type { UdpConntrackTargets } from '../common/udp_conntrack.ts';
import { type EndpointSlot, type EndpointSlots, SLOT_KEYS, slotGroup, slotOffset } from './endpoint_slots.ts';
import { nftLocalMatch } from './local_match.ts';
import {
  clusterIpChainName,
  endpointMapName,
  endpointObjectNames,
  NFT_NAMES,
  type ServiceObjectNames,
  serviceObjectNames,
} from './names.ts';
import {
  type NftAction,
  type NftChain,
  type NftElement,
  type NftEndpoint,
  type NftFamily,
  type NftMatch,
  type NftProtocol,
  type NftRule,
  type NftSet,
  type NftVerdict,
  rule,
} from './ruleset.ts';

/** The flags every service port is planned with. */
export interface ServicePortContext {
  readonly family: NftFamily;
  /** The masquerade mark (e.g. `0x4000`); the mark-for-masquerade chain sets it. */
  readonly mark: string;
  readonly masqueradeAll: boolean;
  /** How IPv4 pod traffic is told apart (`--detect-local-mode`); undefined when it cannot be. */
  readonly local: LocalMatch | undefined;
  /** The node's IPv4 addresses, parsed (for loadBalancerSourceRanges that contain the node). */
  readonly nodeIPs: readonly number[];
}

/** One element of a shared set or map (or of an endpoint map), and which one. */
export interface NftContribution {
  readonly container: string;
  readonly element: NftElement;
}

/** A policy chain that picks its endpoints through an endpoint map, and its slot there. */
export interface ChainSlot extends EndpointSlot {
  readonly chain: string;
}

/**
 * A rule a service port puts into a shared ClusterIP chain (pick_chains.ts) instead of a chain of its
 * own: `ip daddr VIP PROTO dport PORT ... dnat ... map @endpoints-PROTO-GROUP`, in the chain of its slot's
 * group.
 */
export interface PickRule extends EndpointSlot {
  readonly rule: NftRule;
}

/** Everything one service port puts into the table; replaced as a whole when the service port changes. */
export interface NftServicePort {
  readonly key: ServicePortKey;
  /** `namespace/name:port`, safe for a comment. */
  readonly comment: string;
  readonly protocol: NftProtocol;
  /**
   * Its chains, in declaration order: policy chains, external, firewall, then one per endpoint when the
   * policy chains pick through endpoint chains (session affinity) rather than an endpoint map.
   */
  readonly chains: readonly NftChain[];
  /** Session-affinity sets (ClientIP), one per reachable endpoint. */
  readonly affinitySets: readonly NftSet[];
  /** Its elements of the shared sets and maps and of the endpoint maps. */
  readonly elements: readonly NftContribution[];
  /** The slots of its policy chains that pick through an endpoint map. */
  readonly slots: readonly ChainSlot[];
  /**
   * Its rule in a shared ClusterIP chain, when its cluster IP is all that reaches its endpoints (no
   * external chain) and they are picked through an endpoint map: then that policy chain is not declared.
   */
  readonly picks: readonly PickRule[];
  /** Set for UDP service ports. */
  readonly udp: UdpConntrackTargets | undefined;
}

const MARK_FOR_MASQUERADE: NftVerdict = { kind: 'jump', chain: NFT_NAMES.markForMasquerade };

function goto(chain: string): NftVerdict {
  return { kind: 'goto', chain };
}

function address(field: 'saddr' | 'daddr', prefixes: readonly string[], negated = false): NftMatch {
  return { kind: 'address', field, negated, operand: { kind: 'prefixes', prefixes } };
}

/** Builds the parts in upstream's order; one instance per service port. */
class ServicePortPlanner {
  readonly #elements: NftContribution[] = [];
  readonly #slots: ChainSlot[] = [];
  readonly #picks: PickRule[] = [];
  /** The chain the cluster IP's service-ips element goes to: its policy chain, or a shared ClusterIP chain. */
  #internalTarget: string | undefined;
  /** Endpoints that policy chains reach through endpoint chains (by `ip:port`). */
  readonly #throughChains = new Set<string>();
  readonly #proto: NftProtocol;

  constructor(
    readonly sp: ServicePortState,
    readonly p: ServicePortPolicy,
    readonly names: ServiceObjectNames,
    readonly ctx: ServicePortContext,
    readonly slots: EndpointSlots,
  ) {
    this.#proto = sp.protocol.toLowerCase() as NftProtocol;
  }

  plan(): NftServicePort {
    const chains = [...this.#policyChains(), ...this.#externalChain(), ...this.#firewallChain()];
    this.#addElements();
    const viaChains = this.p.reachableEndpoints.filter((e) => this.#throughChains.has(`${e.ip}:${e.port}`));
    chains.push(...viaChains.map((e) => this.#endpointChain(e)));
    this.#addHairpins();
    const sp = this.sp;
    const p = this.p;
    return {
      key: sp.key,
      comment: this.names.comment,
      protocol: this.#proto,
      chains,
      affinitySets: this.#affinitySets(viaChains),
      elements: this.#elements,
      slots: this.#slots,
      picks: this.#picks,
      udp:
        sp.protocol === 'UDP'
          ? {
              serviceIPs: [p.clusterIP, ...p.externalIPs, ...p.loadBalancerIPs],
              nodePort: p.nodePort,
              endpointIPs: [...new Set(p.reachableEndpoints.map((e) => e.ip))],
            }
          : undefined,
    };
  }

  get #affinityTimeout(): number | undefined {
    const a = this.sp.sessionAffinity;
    return a.type === 'ClientIP' ? a.timeoutSeconds : undefined;
  }

  #add(container: string, key: readonly string[], verdict?: NftVerdict, comment?: string): void {
    this.#elements.push({ container, element: { key, verdict, endpoint: undefined, comment } });
  }

  #addEndpoint(map: string, key: number, endpoint: NftEndpoint): void {
    this.#elements.push({
      container: map,
      element: { key: [String(key)], verdict: undefined, endpoint, comment: undefined },
    });
  }

  /**
   * The pairs `ENDPOINT . ENDPOINT` of hairpin-endpoints: an endpoint that reaches itself through the
   * service is masqueraded after DNAT, so that its reply comes back through the node. Only endpoints
   * whose own packets this node DNATs can do that: local ones, and every Cluster-policy endpoint when
   * the external chain sends pod traffic there (a pod on another node reaching this node's NodePort or
   * external IP). Elsewhere a pod's service traffic is DNATed on its own node.
   */
  #addHairpins(): void {
    const { p, ctx } = this;
    const podsShortCircuit =
      p.usesExternalChain && p.externalPolicyLocal && p.usesClusterChain && ctx.local !== undefined;
    const ips = new Set<string>();
    for (const e of podsShortCircuit ? p.clusterEndpoints : []) ips.add(e.ip);
    for (const e of p.reachableEndpoints) if (e.isLocal) ips.add(e.ip);
    for (const ip of ips) this.#add(NFT_NAMES.hairpinEndpoints, [ip, ip]);
  }

  /** The verdict map entries (upstream: "Capture the clusterIP", "... externalIPs", "... load-balancer ingress", "... nodeports"). */
  #addElements(): void {
    const { p, names } = this;
    const n = NFT_NAMES;
    const port = String(this.sp.port);
    const dest = (ip: string): string[] => [ip, this.#proto, port];
    const noEndpoints: NftVerdict = p.hasEndpoints ? { kind: 'drop' } : goto(n.rejectChain);
    const internalChain = this.#internalTarget ?? (p.internalPolicyLocal ? names.local : names.cluster);
    const usesFirewall = p.loadBalancerIPs.length > 0 && p.sourceRanges.length > 0;

    this.#add(n.clusterIPs, [p.clusterIP]);
    if (p.hasInternalEndpoints) this.#add(n.serviceIPs, dest(p.clusterIP), goto(internalChain));
    else this.#add(n.noEndpointServices, dest(p.clusterIP), noEndpoints, names.comment);

    for (const ip of p.externalIPs) {
      if (p.hasEndpoints) this.#add(n.serviceIPs, dest(ip), goto(names.external));
      if (!p.hasExternalEndpoints) this.#add(n.noEndpointServices, dest(ip), noEndpoints, names.comment);
    }
    for (const ip of p.loadBalancerIPs) {
      if (p.hasEndpoints) this.#add(n.serviceIPs, dest(ip), goto(names.external));
      if (usesFirewall) this.#add(n.firewallIPs, dest(ip), goto(names.firewall));
      if (!p.hasExternalEndpoints) this.#add(n.noEndpointServices, dest(ip), noEndpoints, names.comment);
    }
    // Node ports are not subject to loadBalancerSourceRanges, as upstream.
    if (p.nodePort !== 0) {
      const key = [this.#proto, String(p.nodePort)];
      if (p.hasEndpoints) this.#add(n.serviceNodePorts, key, goto(names.external));
      if (!p.hasExternalEndpoints) this.#add(n.noEndpointNodePorts, key, noEndpoints, names.comment);
    }
  }

  /** `service-` (Cluster policy) and `local-` (Local policy) chains: affinity, then the endpoint choice. */
  #policyChains(): NftChain[] {
    const { p, names } = this;
    // Masquerading of cluster-IP traffic is one rule in the services chain (fixed_objects.ts).
    // Only the cluster IP reaches the internal policy chain when there is no external chain.
    const internalOnly = p.usesExternalChain
      ? undefined
      : p.internalPolicyLocal
        ? names.local
        : names.cluster;
    const chain = (name: string, endpoints: readonly Endpoint[]): NftChain | undefined => {
      const rules: NftRule[] = [];
      const picked = this.#pickThroughMap(name, endpoints);
      if (picked !== undefined && name === internalOnly) {
        // One rule in the shared chain of its slot's group instead of a chain of its own: nft 1.0.6 lists
        // every chain of the table before it changes an element, so fewer chains make every sync faster.
        const slot = this.#slots.at(-1)!;
        this.#picks.push({
          protocol: slot.protocol,
          slot: slot.slot,
          rule: rule({
            matches: [
              address('daddr', [p.clusterIP]),
              { kind: 'destination-port', protocol: this.#proto, port: this.sp.port },
            ],
            action: picked,
            comment: this.names.comment,
          }),
        });
        this.#internalTarget = clusterIpChainName(slot.protocol, slotGroup(slot.slot));
        return undefined;
      }
      if (picked !== undefined) {
        rules.push(rule({ action: picked }));
        return { name, comment: undefined, rules };
      }
      for (const e of endpoints) this.#throughChains.add(`${e.ip}:${e.port}`);
      const targets = endpoints.map((e) => endpointObjectNames(this.sp, e.ip, e.port));
      if (this.#affinityTimeout !== undefined) {
        for (const t of targets) {
          rules.push(
            rule({
              matches: [
                {
                  kind: 'address',
                  field: 'saddr',
                  negated: false,
                  operand: { kind: 'set', set: t.affinitySet },
                },
              ],
              action: goto(t.chain),
            }),
          );
        }
      }
      rules.push(rule({ action: { kind: 'numgen', chains: targets.map((t) => t.chain) } }));
      return { name, comment: undefined, rules };
    };
    const cluster = p.usesClusterChain ? chain(names.cluster, p.clusterEndpoints) : undefined;
    const local = p.usesLocalChain ? chain(names.local, p.localEndpoints) : undefined;
    return [cluster, local].filter((c): c is NftChain => c !== undefined);
  }

  /**
   * The action that picks one of `endpoints` through an endpoint map, or undefined when the chain picks
   * through endpoint chains instead: with session affinity (each endpoint chain records the client), or
   * when no slot is left or the endpoints do not fit one.
   */
  #pickThroughMap(chain: string, endpoints: readonly Endpoint[]): NftAction | undefined {
    if (this.#affinityTimeout !== undefined || endpoints.length > SLOT_KEYS) return undefined;
    const slot = this.slots.take(this.#proto, chain);
    if (slot === undefined) return undefined;
    this.#slots.push({ chain, protocol: this.#proto, slot });
    // Endpoints that share a port (the rule) go into a map of addresses, cheaper for nft to load.
    const port = endpoints.every((e) => e.port === endpoints[0]!.port) ? endpoints[0]!.port : undefined;
    const map = endpointMapName(this.#proto, slotGroup(slot), port === undefined ? 'pairs' : 'addresses');
    const offset = slotOffset(slot);
    for (let i = 0; i < endpoints.length; i++) {
      const e = endpoints[i]!;
      this.#addEndpoint(map, offset + i, { address: e.ip, port: port === undefined ? e.port : undefined });
    }
    return { kind: 'dnat-map', protocol: this.#proto, count: endpoints.length, offset, map, port };
  }

  /** `external-`: masquerade (Cluster policy) or the Local-policy short-circuits, then the external policy chain. */
  #externalChain(): NftChain[] {
    const { p, names, ctx } = this;
    if (!p.usesExternalChain) return [];
    const rules: NftRule[] = [];
    if (!p.externalPolicyLocal) {
      // Cluster policy: the endpoint may be on another node, whose reply must come back through this one.
      rules.push(rule({ action: MARK_FOR_MASQUERADE }));
    } else {
      if (ctx.local !== undefined && p.usesClusterChain) {
        // Pods reaching an external destination behave as if they went out to a load balancer and back.
        rules.push(
          rule({
            matches: [nftLocalMatch(ctx.local, false)],
            action: goto(names.cluster),
            comment: 'short-circuit pod traffic',
          }),
        );
      }
      // The node itself: its source would be the external IP (a local address), so masquerade it.
      const fromNode: NftMatch = { kind: 'fib-local', field: 'saddr' };
      rules.push(
        rule({ matches: [fromNode], action: MARK_FOR_MASQUERADE, comment: 'masquerade local traffic' }),
      );
      if (p.usesClusterChain) {
        rules.push(
          rule({ matches: [fromNode], action: goto(names.cluster), comment: 'short-circuit local traffic' }),
        );
      }
    }
    if (p.hasExternalEndpoints) {
      rules.push(rule({ action: goto(p.externalPolicyLocal ? names.local : names.cluster) }));
    }
    return [{ name: names.external, comment: undefined, rules }];
  }

  /** `firewall-`: drop sources outside loadBalancerSourceRanges (reached from firewall-check, before DNAT). */
  #firewallChain(): NftChain[] {
    const { p, names, ctx } = this;
    if (p.loadBalancerIPs.length === 0 || p.sourceRanges.length === 0) return [];
    const allowed = p.sourceRanges.map(formatCidr);
    // A VIP-like LB IP is often local to the node: the node's own requests then come from the LB IP.
    const allowFromNode = p.sourceRanges.some((c) => ctx.nodeIPs.some((ip) => cidrContainsIp(c, ip)));
    if (allowFromNode) allowed.push(...p.loadBalancerIPs);
    return [
      {
        name: names.firewall,
        comment: undefined,
        rules: [
          rule({
            matches: [
              {
                kind: 'address',
                field: 'saddr',
                negated: true,
                operand: { kind: 'prefixes', prefixes: allowed },
              },
            ],
            action: { kind: 'drop' },
          }),
        ],
      },
    ];
  }

  /** `endpoint-`: affinity update, DNAT (hairpin masquerading is hairpin-endpoints', in postrouting). */
  #endpointChain(e: Endpoint): NftChain {
    const names = endpointObjectNames(this.sp, e.ip, e.port);
    const rules: NftRule[] = [];
    if (this.#affinityTimeout !== undefined) {
      rules.push(rule({ statements: [{ kind: 'update-source', set: names.affinitySet }] }));
    }
    rules.push(rule({ action: { kind: 'dnat', protocol: this.#proto, address: e.ip, port: e.port } }));
    return { name: names.chain, comment: undefined, rules };
  }

  /** One set per endpoint chain: the clients sent there, each remembered for the affinity timeout. */
  #affinitySets(endpoints: readonly Endpoint[]): NftSet[] {
    const timeout = this.#affinityTimeout;
    if (timeout === undefined) return [];
    return endpoints.map((e) => ({
      kind: 'set',
      name: endpointObjectNames(this.sp, e.ip, e.port).affinitySet,
      keyType: [this.ctx.family === 'ip' ? 'ipv4_addr' : 'ipv6_addr'],
      comment: undefined,
      timeoutSeconds: timeout,
      elements: [],
    }));
  }
}

/**
 * Plans one service port.
 *
 * @param sp the service port (endpoints selected by the tracker)
 * @param ctx the flags shared by every service port
 * @param slots where its policy chains get their endpoint-map slots
 * @returns what it puts into the table, or undefined when it has no IPv4 cluster IP (IPv6 is not planned yet)
 * @example planServicePort(state.servicePorts.get('ns1/svc1:p80/TCP')!, ctx, new EndpointSlots())?.chains.map((c) => c.name)
 */
export function planServicePort(
  sp: ServicePortState,
  ctx: ServicePortContext,
  slots: EndpointSlots,
): NftServicePort | undefined {
  const policy = servicePortPolicy(sp);
  if (policy === undefined) return undefined;
  return new ServicePortPlanner(sp, policy, serviceObjectNames(sp), ctx, slots).plan();
}
