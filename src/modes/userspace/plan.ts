/**
 * The userspace mode's plan: for every service port, the proxy listeners kproxy opens and the nat "portal"
 * rules that send each VIP:port to them, as kube-proxy 1.x's userspace proxier did (chains
 * KUBE-PORTALS-CONTAINER from PREROUTING, KUBE-PORTALS-HOST from OUTPUT, KUBE-NODEPORT-CONTAINER /
 * KUBE-NODEPORT-HOST for node ports, and filter KUBE-NODEPORT-NON-LOCAL to let node-port traffic in).
 *
 * Kept from upstream: from-container traffic is REDIRECTed to the proxy port (so replies leave from the
 * address the packet came in on, which UDP needs); from-host traffic is DNATed to the node IP (REDIRECT of
 * local packets goes to 127.0.0.1 and UDP replies would then come from the wrong address); external IPs
 * are captured from the host only when they are local (`-m addrtype --dst-type LOCAL`).
 * Changed: each service port gets two listeners when it has external portals (node port, external IPs,
 * LB IPs), one balancing over `internalEndpoints` and one over `externalEndpoints`, because after a
 * REDIRECT the relay can no longer tell which VIP the client used and traffic policies need to; the
 * `physdev` match is dropped (it needs br_netfilter); IPv6 portals have no rules: an IPv6 VIP is served
 * by listening on it directly when it is a local address.
 *
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { PlanOptions } from '../../contracts/plan_options.ts';
import type {
  Endpoint,
  IPFamily,
  Protocol,
  ProxyState,
  ServicePortKey,
  ServicePortState,
} from '../../model/types.ts';

/** Which address of a service a portal is. */
export type PortalKind = 'clusterIP' | 'loadBalancerIP' | 'externalIP' | 'nodePort';

/** Which endpoints a listener balances over: clusterIP traffic uses internal ones, the rest external. */
export type ListenerRole = 'internal' | 'external';

/** One address:port of a service that clients connect to. */
export interface Portal {
  readonly kind: PortalKind;
  /** The VIP; undefined for a node port (every local address, or `--nodeport-addresses`). */
  readonly ip: string | undefined;
  readonly port: number;
  readonly family: IPFamily;
}

/** One relay listener of a service port, and the portals that lead to it. */
export interface PlannedListener {
  /** `<service port key>|internal` or `|external`: stable, the key of proxy-port allocations. */
  readonly id: string;
  readonly role: ListenerRole;
  /**
   * The proxy port; 0 when it is chosen at run time (no `--proxy-port-range`): rendered as a placeholder
   * (see `runtimePortNames` in render.ts).
   */
  readonly proxyPort: number;
  readonly portals: readonly Portal[];
  /** `ip:port` of every endpoint this listener balances over (round-robin, or ClientIP affinity). */
  readonly endpoints: readonly string[];
}

/** A service port, as the userspace mode serves it. */
export interface PlannedServicePort {
  readonly key: ServicePortKey;
  readonly protocol: Protocol;
  readonly state: ServicePortState;
  readonly listeners: readonly PlannedListener[];
}

/** The chains the userspace mode owns. */
export type PortalChain =
  | 'KUBE-PORTALS-CONTAINER'
  | 'KUBE-PORTALS-HOST'
  | 'KUBE-NODEPORT-CONTAINER'
  | 'KUBE-NODEPORT-HOST'
  | 'KUBE-NODEPORT-NON-LOCAL';

/** Where a portal rule sends a packet. */
export type PortalTarget =
  | { readonly kind: 'REDIRECT'; readonly toPort: number }
  | { readonly kind: 'DNAT'; readonly toIP: string; readonly toPort: number }
  | { readonly kind: 'ACCEPT' };

/** One rule in one of the userspace chains, as data: rendered for iptables-restore, walked by trace. */
export interface PortalRule {
  readonly table: 'nat' | 'filter';
  readonly chain: PortalChain;
  /** `namespace/name:portName`, validated for use in a quoted comment. */
  readonly comment: string;
  readonly protocol: 'tcp' | 'udp';
  readonly dport: number;
  /** A destination CIDR, or undefined for any. */
  readonly destination: string | undefined;
  /** `-m addrtype --dst-type LOCAL`. */
  readonly dstLocal: boolean;
  /** `-m conntrack --ctstate NEW` (the filter rule). */
  readonly newOnly: boolean;
  readonly target: PortalTarget;
  /** The listener the rule leads to (for trace). */
  readonly listenerId: string;
}

/** A fixed rule that sends a built-in chain to one of ours; ensured (checked, then inserted) by the applier. */
export interface PortalJump {
  readonly table: 'nat' | 'filter';
  readonly from: 'PREROUTING' | 'OUTPUT' | 'INPUT';
  readonly to: PortalChain;
  /** Insert first (portals) or append last (node ports, which match broadly). */
  readonly position: 'first' | 'last';
  /** The rule's match arguments, without `-j`. */
  readonly args: readonly string[];
}

/** The whole userspace plan. */
export interface UserspacePlan {
  /**
   * `--userspace-portals`: with `off` the plan has no rules (every VIP is served by a listener bound to it,
   * when it is a local address); `on` and `auto` plan the rules (`auto` installs them when it can).
   */
  readonly portals: 'auto' | 'on' | 'off';
  readonly servicePorts: readonly PlannedServicePort[];
  readonly rules: readonly PortalRule[];
  /** Service ports the mode cannot serve, with the reason (e.g. SCTP). */
  readonly skipped: readonly { readonly key: ServicePortKey; readonly reason: string }[];
  /** Where from-host portal rules DNAT to; undefined = REDIRECT (no IPv4 node IP known). */
  readonly hostIP: string | undefined;
}

/** Every chain the mode owns, per table, in a fixed order. */
export const PORTAL_CHAINS: {
  readonly nat: readonly PortalChain[];
  readonly filter: readonly PortalChain[];
} = {
  nat: ['KUBE-PORTALS-CONTAINER', 'KUBE-PORTALS-HOST', 'KUBE-NODEPORT-CONTAINER', 'KUBE-NODEPORT-HOST'],
  filter: ['KUBE-NODEPORT-NON-LOCAL'],
};

/** Node ports are matched last, on local destinations only (kube-proxy 1.x's text). */
const NODEPORT_JUMP_ARGS = [
  '-m',
  'addrtype',
  '--dst-type',
  'LOCAL',
  '-m',
  'comment',
  '--comment',
  'handle service NodePorts; NOTE: this must be the last rule in the chain',
] as const;

/** The jumps from built-in chains, in the order upstream installs them. */
export const PORTAL_JUMPS: readonly PortalJump[] = [
  {
    table: 'nat',
    from: 'PREROUTING',
    to: 'KUBE-PORTALS-CONTAINER',
    position: 'first',
    args: ['-m', 'comment', '--comment', 'handle ClusterIPs; NOTE: this must be before the NodePort rules'],
  },
  {
    table: 'nat',
    from: 'OUTPUT',
    to: 'KUBE-PORTALS-HOST',
    position: 'first',
    args: ['-m', 'comment', '--comment', 'handle ClusterIPs; NOTE: this must be before the NodePort rules'],
  },
  {
    table: 'nat',
    from: 'PREROUTING',
    to: 'KUBE-NODEPORT-CONTAINER',
    position: 'last',
    args: NODEPORT_JUMP_ARGS,
  },
  {
    table: 'nat',
    from: 'OUTPUT',
    to: 'KUBE-NODEPORT-HOST',
    position: 'last',
    args: NODEPORT_JUMP_ARGS,
  },
  {
    table: 'filter',
    from: 'INPUT',
    to: 'KUBE-NODEPORT-NON-LOCAL',
    position: 'first',
    args: ['-m', 'comment', '--comment', 'Ensure that non-local NodePort traffic can flow'],
  },
];

/** The allocation of proxy ports, by {@link PlannedListener.id}. */
export type ProxyPortAllocation = ReadonlyMap<string, number>;

/**
 * The listener id of a service port's role.
 *
 * @param key the service port key
 * @param role internal or external
 * @returns `key|role`
 * @example listenerId('default/web:http/TCP', 'internal') // 'default/web:http/TCP|internal'
 */
export function listenerId(key: ServicePortKey, role: ListenerRole): string {
  return `${key}|${role}`;
}

/**
 * The family of an address.
 *
 * @param ip an address
 * @returns its family, or undefined when it is not an IP address
 * @example familyOf('::1') // 'IPv6'
 */
export function familyOf(ip: string): IPFamily | undefined {
  if (isIPv4(ip)) return 'IPv4';
  if (isIPv6(ip)) return 'IPv6';
  return undefined;
}

/**
 * The portals of a service port, by role, in a stable order: cluster IPs (internal); LB IPs, external IPs
 * and the node port (external: they use `externalEndpoints`, per externalTrafficPolicy). Addresses that are
 * not IPs are dropped (the model validates them; this is a second guard).
 *
 * @param sp the service port
 * @returns its portals by role
 * @example portalsOf(sp).internal.map((p) => p.ip)
 */
export function portalsOf(sp: ServicePortState): { internal: Portal[]; external: Portal[] } {
  const internal: Portal[] = [];
  const external: Portal[] = [];
  const add = (list: Portal[], kind: PortalKind, ip: string): void => {
    const family = familyOf(ip);
    if (family !== undefined) list.push({ kind, ip, port: sp.port, family });
  };
  for (const ip of sp.clusterIPs) add(internal, 'clusterIP', ip);
  for (const ip of sp.loadBalancerIPs) add(external, 'loadBalancerIP', ip);
  for (const ip of sp.externalIPs) add(external, 'externalIP', ip);
  if (sp.nodePort > 0) {
    external.push({ kind: 'nodePort', ip: undefined, port: sp.nodePort, family: 'IPv4' });
  }
  return { internal, external };
}

const COMMENT_SAFE = /[^A-Za-z0-9._/:-]/g;

/**
 * The rule comment of a service port: `namespace/name:portName`, with anything outside a conservative
 * character set replaced by `_`, so that nothing from an object can break out of the quoted comment.
 *
 * @param sp the service port
 * @returns the comment text
 * @example portalComment(sp) // 'default/web:http'
 */
export function portalComment(sp: ServicePortState): string {
  return `${sp.namespace}/${sp.serviceName}:${sp.portName}`.replace(COMMENT_SAFE, '_');
}

function endpointAddress(e: Endpoint): string {
  return e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

/**
 * Proxy ports as `kproxy rules` shows them: with `--proxy-port-range`, allocated in key order from the
 * start of the range (what the Proxier does when the range is free); without it, 0 (chosen at run time).
 *
 * @param state the proxy state
 * @param options the plan options (only the range is used)
 * @returns the port of every listener id
 * @example notionalProxyPorts(state, options).get('default/web:http/TCP|internal')
 */
export function notionalProxyPorts(state: ProxyState, options: PlanOptions): Map<string, number> {
  const ports = new Map<string, number>();
  const range = options.proxyPortRange;
  const next = { TCP: range?.from ?? 0, UDP: range?.from ?? 0 };
  for (const sp of state.servicePorts.values()) {
    if (sp.protocol === 'SCTP') continue;
    const { internal, external } = portalsOf(sp);
    for (const [role, portals] of [
      ['internal', internal],
      ['external', external],
    ] as const) {
      if (portals.length === 0) continue;
      let port = 0;
      if (range !== undefined && next[sp.protocol] <= range.to) port = next[sp.protocol]++;
      ports.set(listenerId(sp.key, role), port);
    }
  }
  return ports;
}

/**
 * Plans the userspace mode. Pure: same input, same output.
 *
 * @param state the proxy state
 * @param options the plan options (node IPs, node-port addresses, proxy-port range)
 * @param proxyPorts the proxy port of each listener; default {@link notionalProxyPorts}. A listener
 *   missing from the map has no port yet: it is planned, but gets no rules.
 * @returns listeners and rules, in service-port-key order
 * @example const plan = planUserspace(state, options); console.log(plan.rules.length)
 */
export function planUserspace(
  state: ProxyState,
  options: PlanOptions,
  proxyPorts?: ProxyPortAllocation,
): UserspacePlan {
  const ports = proxyPorts ?? notionalProxyPorts(state, options);
  const policy = options.userspacePortals ?? 'auto';
  const hostIP = options.nodeIPs.find((ip) => isIPv4(ip));
  const nodePortCIDRs = options.nodePortAddresses.filter((cidr) => isIPv4(cidr.split('/')[0] ?? ''));
  const servicePorts: PlannedServicePort[] = [];
  const rules: PortalRule[] = [];
  const skipped: { key: ServicePortKey; reason: string }[] = [];
  const keys = [...state.servicePorts.keys()].sort();
  for (const key of keys) {
    const sp = state.servicePorts.get(key)!;
    if (sp.protocol === 'SCTP') {
      skipped.push({ key, reason: 'SCTP is not supported by the userspace relay' });
      continue;
    }
    const protocol = sp.protocol === 'TCP' ? 'tcp' : 'udp';
    const comment = portalComment(sp);
    const { internal, external } = portalsOf(sp);
    const listeners: PlannedListener[] = [];
    for (const [role, portals, endpoints] of [
      ['internal', internal, sp.internalEndpoints],
      ['external', external, sp.externalEndpoints],
    ] as const) {
      if (portals.length === 0) continue;
      const id = listenerId(key, role);
      const proxyPort = ports.get(id);
      listeners.push({
        id,
        role,
        proxyPort: proxyPort ?? 0,
        portals,
        endpoints: endpoints.map(endpointAddress),
      });
      if (proxyPort === undefined || policy === 'off') continue;
      const base = { comment, protocol, newOnly: false, listenerId: id } as const;
      const redirect: PortalTarget = { kind: 'REDIRECT', toPort: proxyPort };
      const toHost: PortalTarget =
        hostIP === undefined ? redirect : { kind: 'DNAT', toIP: hostIP, toPort: proxyPort };
      for (const portal of portals) {
        if (portal.family !== 'IPv4') continue;
        if (portal.kind === 'nodePort') {
          const destinations = nodePortCIDRs.length > 0 ? nodePortCIDRs : [undefined];
          for (const destination of destinations) {
            const match = {
              ...base,
              table: 'nat',
              dport: portal.port,
              destination,
              dstLocal: false,
            } as const;
            rules.push({ ...match, chain: 'KUBE-NODEPORT-CONTAINER', target: redirect });
            rules.push({ ...match, chain: 'KUBE-NODEPORT-HOST', target: toHost });
          }
          rules.push({
            ...base,
            table: 'filter',
            chain: 'KUBE-NODEPORT-NON-LOCAL',
            dport: proxyPort,
            destination: undefined,
            dstLocal: false,
            newOnly: true,
            target: { kind: 'ACCEPT' },
          });
          continue;
        }
        const match = { ...base, table: 'nat', dport: portal.port, destination: `${portal.ip}/32` } as const;
        rules.push({ ...match, chain: 'KUBE-PORTALS-CONTAINER', dstLocal: false, target: redirect });
        // An external IP is captured from the host only when it is this node's: otherwise the host must
        // reach whoever really owns it.
        const external = portal.kind === 'externalIP';
        rules.push({ ...match, chain: 'KUBE-PORTALS-HOST', dstLocal: external, target: toHost });
      }
    }
    servicePorts.push({ key, protocol: sp.protocol, state: sp, listeners });
  }
  return { portals: policy, servicePorts, rules, skipped, hostIP };
}
