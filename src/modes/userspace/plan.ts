/**
 * The userspace mode's plan: for every service port, the relay listeners and the sockets kproxy opens for
 * them, and the nat "portal" rules that send each VIP:port to them, as kube-proxy 1.x's userspace proxier
 * did (the chains and jumps of portal_chains.ts). The plan decides everything the Proxier does: which
 * sockets to open (a proxy port behind portal rules, or each local portal address listened on directly),
 * which portals are not reachable in this setup, and the rules; the Proxier only binds, diffs and applies.
 * What it needs to know of the host comes in as plain data ({@link UserspaceHost}).
 *
 * Kept from upstream: from-container traffic is REDIRECTed to the proxy port (so replies leave from the
 * address the packet came in on, which UDP needs); from-host traffic is DNATed to the node IP (REDIRECT of
 * local packets goes to 127.0.0.1 and UDP replies would then come from the wrong address); external IPs
 * are captured from the host only when they are local (`-m addrtype --dst-type LOCAL`).
 * Changed: each service port gets two listeners when it has external portals (node port, external IPs,
 * LB IPs), one balancing over `internalEndpoints` and one over `externalEndpoints`, because after a
 * REDIRECT the relay can no longer tell which VIP the client used and traffic policies need to; the
 * `physdev` match is dropped (it needs br_netfilter).
 *
 * One IP family per plan ({@link PlanOptions.ipFamily}, IPv4 when undefined), as upstream runs one proxier
 * per family: only the portals and endpoints of that family are planned (an address of the other family is
 * ignored, whatever the state holds), the proxy sockets are bound to that family's any-address (`0.0.0.0`
 * or `::`), and the rules are that family's table's (iptables or ip6tables), with `/32` or `/128`
 * destinations and from-host portals DNATed to the family's first node IP.
 *
 * @module
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { PlanOptions } from '../../contracts/plan_options.ts';
import type {
  Endpoint,
  IPFamily,
  Protocol,
  ProxyState,
  ServicePortKey,
  ServicePortState,
} from '../../model/types.ts';
import { isLocalAddress } from './local_addresses.ts';
import type { PortalChain, PortalTable } from './portal_chains.ts';

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

/** One socket the relay opens for a listener. */
export interface PlannedSocket {
  /** Unique, stable across syncs: `proxy|<listener id>` or `direct|<listener id>|<host>:<port>`. */
  readonly id: string;
  readonly listenerId: string;
  readonly role: ListenerRole;
  /**
   * The address to bind: the family's any-address (`0.0.0.0`, or `::` bound IPv6-only) for a proxy port,
   * else the portal's address (or a node address).
   */
  readonly host: string;
  /** The port to bind: the listener's proxy port for a proxy socket (0: chosen when it binds). */
  readonly port: number;
  /** A proxy port that portal rules lead to (true), or a portal address listened on directly (false). */
  readonly proxy: boolean;
  /** The portals whose rules lead to a proxy socket; none for a direct one. */
  readonly portals: readonly Portal[];
}

/** A portal that nothing serves in this setup, and why (the Proxier reports it once). */
export interface UnreachablePortal {
  readonly key: ServicePortKey;
  readonly portal: Portal;
  readonly reason: string;
}

/** A service port, as the userspace mode serves it. */
export interface PlannedServicePort {
  readonly key: ServicePortKey;
  readonly protocol: Protocol;
  readonly state: ServicePortState;
  readonly listeners: readonly PlannedListener[];
  /** The sockets of its listeners, in listener order. */
  readonly sockets: readonly PlannedSocket[];
}

/** Where a portal rule sends a packet. */
export type PortalTarget =
  | { readonly kind: 'REDIRECT'; readonly toPort: number }
  | { readonly kind: 'DNAT'; readonly toIP: string; readonly toPort: number }
  | { readonly kind: 'ACCEPT' }
  /** KUBE-PORTALS-GUARD: a new connection to a proxy port nobody listens on waits for its retransmit. */
  | { readonly kind: 'DROP' };

/** One rule in one of the userspace chains, as data: rendered for iptables-restore, walked by trace. */
export interface PortalRule {
  readonly table: PortalTable;
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

/** The whole userspace plan. */
export interface UserspacePlan {
  /** The IP family planned: every portal, endpoint, socket and rule is of it. */
  readonly family: IPFamily;
  /**
   * `--userspace-portals`: with `off` the plan has no rules (every VIP is served by a listener bound to it,
   * when it is a local address); `on` and `auto` plan the rules (`auto` installs them when it can).
   */
  readonly portals: 'auto' | 'on' | 'off';
  /**
   * Whether the portal rules are installed ({@link UserspaceHost.portals}): the Proxier then applies the
   * rules (all of the mode's chains, even when there is no rule) and opens proxy sockets.
   */
  readonly rulesInstalled: boolean;
  readonly servicePorts: readonly PlannedServicePort[];
  readonly rules: readonly PortalRule[];
  /** Portals that no socket serves: not local addresses, and no rule leads to the relay. */
  readonly unreachable: readonly UnreachablePortal[];
  /** Service ports the mode cannot serve, with the reason (e.g. SCTP). */
  readonly skipped: readonly { readonly key: ServicePortKey; readonly reason: string }[];
  /** Where from-host portal rules DNAT to; undefined = REDIRECT (no node IP of the family known). */
  readonly hostIP: string | undefined;
}

/** The allocation of proxy ports, by {@link PlannedListener.id}. */
export type ProxyPortAllocation = ReadonlyMap<string, number>;

/** What the plan needs to know of the host it runs on, as plain data. */
export interface UserspaceHost {
  /**
   * Whether the portal rules are installed. Default: unless `--userspace-portals off` (what `kproxy rules`
   * shows); the Proxier decides `auto` when it starts (root and a usable iptables).
   */
  readonly portals?: boolean | undefined;
  /**
   * This host's addresses: a portal among them (or in 127.0.0.0/8, or ::1) is served by listening on it
   * when no rule leads to the relay. Default: the node IPs.
   */
  readonly localAddresses?: readonly string[] | undefined;
  /**
   * The proxy port of each listener. Default {@link notionalProxyPorts}. A listener missing from a given
   * map has no port yet: it is planned, but gets no rules. `runtime` (the Proxier): every proxy port is
   * chosen when its socket binds; the rules name it by listener id (port 0) until {@link bindProxyPorts}
   * fills in the bound ports.
   */
  readonly proxyPorts?: ProxyPortAllocation | 'runtime' | undefined;
}

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
 * The portals of a service port in one family, by role, in a stable order: cluster IPs (internal); LB IPs,
 * external IPs and the node port (external: they use `externalEndpoints`, per externalTrafficPolicy).
 * Addresses of the other family are left to that family's plan, and addresses that are not IPs are dropped
 * (the model validates them; this is a second guard). The node port is a portal of the family only when
 * the service has a cluster IP of it, as upstream's per-family proxier sees only such services.
 *
 * @param sp the service port
 * @param family the family planned (default IPv4)
 * @returns its portals of `family` by role
 * @example portalsOf(sp, 'IPv6').internal.map((p) => p.ip)
 */
export function portalsOf(
  sp: ServicePortState,
  family: IPFamily = 'IPv4',
): { internal: Portal[]; external: Portal[] } {
  const internal: Portal[] = [];
  const external: Portal[] = [];
  const add = (list: Portal[], kind: PortalKind, ip: string): void => {
    if (familyOf(ip) === family) list.push({ kind, ip, port: sp.port, family });
  };
  for (const ip of sp.clusterIPs) add(internal, 'clusterIP', ip);
  for (const ip of sp.loadBalancerIPs) add(external, 'loadBalancerIP', ip);
  for (const ip of sp.externalIPs) add(external, 'externalIP', ip);
  if (sp.nodePort > 0 && internal.length > 0) {
    external.push({ kind: 'nodePort', ip: undefined, port: sp.nodePort, family });
  }
  return { internal, external };
}

/**
 * The address a proxy socket of a family is bound to: every address of that family.
 *
 * @param family the family
 * @returns `0.0.0.0` or `::`
 * @example anyAddress('IPv6') // '::'
 */
export function anyAddress(family: IPFamily): string {
  return family === 'IPv6' ? '::' : '0.0.0.0';
}

/**
 * An address and port as a socket address reads: `ip:port`, `[ip]:port` for IPv6.
 *
 * @param ip the address
 * @param port the port (or a placeholder)
 * @returns the text
 * @example hostPort('2001:2::1', 80) // '[2001:2::1]:80'
 */
export function hostPort(ip: string, port: number | string): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
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
  return hostPort(e.ip, e.port);
}

/** The endpoints of one family (the family's view has no others; a second guard against mixing). */
function endpointsOf(endpoints: readonly Endpoint[], family: IPFamily): readonly Endpoint[] {
  const v6 = family === 'IPv6';
  return endpoints.every((e) => e.ip.includes(':') === v6)
    ? endpoints
    : endpoints.filter((e) => e.ip.includes(':') === v6);
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
    const { internal, external } = portalsOf(sp, options.ipFamily ?? 'IPv4');
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
 * @param options the plan options (node IPs, node-port addresses, proxy-port range, portal policy)
 * @param host what the plan needs to know of the host ({@link UserspaceHost}; the defaults are what
 *   `kproxy rules` shows)
 * @returns listeners, sockets and rules, in service-port-key order
 * @example const plan = planUserspace(state, options); console.log(plan.rules.length)
 */
export function planUserspace(
  state: ProxyState,
  options: PlanOptions,
  host: UserspaceHost = {},
): UserspacePlan {
  const allocation = host.proxyPorts ?? notionalProxyPorts(state, options);
  const portOf = (id: string): number | undefined => (allocation === 'runtime' ? 0 : allocation.get(id));
  const policy = options.userspacePortals ?? 'auto';
  const rulesInstalled = host.portals ?? policy !== 'off';
  const family = options.ipFamily ?? 'IPv4';
  const hostIP = options.nodeIPs.find((ip) => familyOf(ip) === family);
  const nodePortCIDRs = options.nodePortAddresses.filter(
    (cidr) => familyOf(cidr.split('/')[0] ?? '') === family,
  );
  const localAddresses = host.localAddresses ?? options.nodeIPs;
  const layout: SocketLayout = {
    family,
    rulesInstalled,
    local: new Set(localAddresses),
    nodePortHosts: nodePortHosts(family, nodePortCIDRs, localAddresses),
  };
  const hostBits = family === 'IPv6' ? 128 : 32;
  const servicePorts: PlannedServicePort[] = [];
  const rules: PortalRule[] = [];
  /** KUBE-PORTALS-GUARD's rules, after all others (the chain reads as one block). */
  const guards: PortalRule[] = [];
  const unreachable: UnreachablePortal[] = [];
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
    const { internal, external } = portalsOf(sp, family);
    // Nothing of this family: the other family's plan serves it, and this one programs nothing for it.
    if (internal.length === 0 && external.length === 0) continue;
    const listeners: PlannedListener[] = [];
    const sockets: PlannedSocket[] = [];
    for (const [role, portals, endpoints] of [
      ['internal', internal, sp.internalEndpoints],
      ['external', external, sp.externalEndpoints],
    ] as const) {
      if (portals.length === 0) continue;
      const id = listenerId(key, role);
      const proxyPort = portOf(id);
      const listener: PlannedListener = {
        id,
        role,
        proxyPort: proxyPort ?? 0,
        portals,
        endpoints: endpointsOf(endpoints, family).map(endpointAddress),
      };
      listeners.push(listener);
      sockets.push(...planSockets(key, listener, layout, unreachable));
      if (proxyPort === undefined || !rulesInstalled) continue;
      const base = { comment, protocol, newOnly: false, listenerId: id } as const;
      // Held, not refused, while the relay is not listening (a restart): see portal_chains.ts.
      guards.push({
        ...base,
        table: 'filter',
        chain: 'KUBE-PORTALS-GUARD',
        dport: proxyPort,
        destination: undefined,
        dstLocal: false,
        target: { kind: 'DROP' },
      });
      const redirect: PortalTarget = { kind: 'REDIRECT', toPort: proxyPort };
      const toHost: PortalTarget =
        hostIP === undefined ? redirect : { kind: 'DNAT', toIP: hostIP, toPort: proxyPort };
      for (const portal of portals) {
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
        const destination = `${portal.ip}/${hostBits}`;
        const match = { ...base, table: 'nat', dport: portal.port, destination } as const;
        rules.push({ ...match, chain: 'KUBE-PORTALS-CONTAINER', dstLocal: false, target: redirect });
        // An external IP is captured from the host only when it is this node's: otherwise the host must
        // reach whoever really owns it.
        const external = portal.kind === 'externalIP';
        rules.push({ ...match, chain: 'KUBE-PORTALS-HOST', dstLocal: external, target: toHost });
      }
    }
    servicePorts.push({ key, protocol: sp.protocol, state: sp, listeners, sockets });
  }
  rules.push(...guards);
  return { family, portals: policy, rulesInstalled, servicePorts, rules, unreachable, skipped, hostIP };
}

/** What decides a listener's sockets, the same for every service port of a plan. */
interface SocketLayout {
  readonly family: IPFamily;
  readonly rulesInstalled: boolean;
  readonly local: ReadonlySet<string>;
  /** Where a node port is listened on without portal rules. */
  readonly nodePortHosts: readonly string[];
}

/**
 * Where a node port is listened on without portal rules: every address of the family (`0.0.0.0`, `::`), or
 * with `--nodeport-addresses` the host's addresses of the family in those ranges.
 */
function nodePortHosts(
  family: IPFamily,
  cidrs: readonly string[],
  localAddresses: readonly string[],
): string[] {
  if (cidrs.length === 0) return [anyAddress(family)];
  const type = family === 'IPv6' ? 'ipv6' : 'ipv4';
  const ranges = new BlockList();
  for (const cidr of cidrs) {
    const [network, bits] = cidr.split('/');
    ranges.addSubnet(network ?? '', Number(bits ?? (family === 'IPv6' ? 128 : 32)), type);
  }
  return [...new Set(localAddresses)].filter((a) => familyOf(a) === family && ranges.check(a, type)).sort();
}

/**
 * The sockets of one listener: with portal rules, one proxy socket on the family's any-address that the
 * rules of its portals lead to; without, each portal is listened on directly when its address is local,
 * and otherwise recorded as unreachable.
 */
function planSockets(
  key: ServicePortKey,
  listener: PlannedListener,
  layout: SocketLayout,
  unreachable: UnreachablePortal[],
): PlannedSocket[] {
  const base = { listenerId: listener.id, role: listener.role } as const;
  const sockets: PlannedSocket[] = [];
  const viaRules = layout.rulesInstalled ? listener.portals : [];
  if (viaRules.length > 0) {
    sockets.push({
      ...base,
      id: `proxy|${listener.id}`,
      host: anyAddress(layout.family),
      port: listener.proxyPort,
      proxy: true,
      portals: viaRules,
    });
  }
  const direct = (host: string, port: number): PlannedSocket => ({
    ...base,
    id: `direct|${listener.id}|${host}:${port}`,
    host,
    port,
    proxy: false,
    portals: [],
  });
  for (const portal of listener.portals) {
    if (viaRules.includes(portal)) continue;
    if (portal.ip === undefined) {
      for (const host of layout.nodePortHosts) sockets.push(direct(host, portal.port));
    } else if (isLocalAddress(portal.ip, layout.local)) {
      sockets.push(direct(portal.ip, portal.port));
    } else {
      const why = layout.family === 'IPv6' ? 'needs root and ip6tables' : 'needs root and iptables';
      unreachable.push({
        key,
        portal,
        reason: `it is not a local address and no portal rules are installed (${why})`,
      });
    }
  }
  return sockets;
}

/**
 * The plan with the proxy ports its sockets were bound to filled in (what the rules must say, for a plan
 * made with `proxyPorts: 'runtime'`): a rule of a listener with no bound port is left out, so that no rule
 * ever points at a port nobody listens on.
 *
 * @param plan the plan
 * @param bound the bound proxy port of each listener id
 * @returns the plan whose rules name only bound ports
 * @example renderPortalRestore(bindProxyPorts(plan, new Map([['default/web:http/TCP|internal', 40123]])))
 */
export function bindProxyPorts(plan: UserspacePlan, bound: ProxyPortAllocation): UserspacePlan {
  const rules: PortalRule[] = [];
  for (const rule of plan.rules) {
    // A service port is never 0: a port 0 in a rule always stands for its listener's proxy port.
    const target = rule.target;
    const hasPort = target.kind === 'REDIRECT' || target.kind === 'DNAT';
    const unbound = rule.dport === 0 || (hasPort && target.toPort === 0);
    if (!unbound) {
      rules.push(rule);
      continue;
    }
    const port = bound.get(rule.listenerId);
    if (port === undefined) continue;
    const dport = rule.dport === 0 ? port : rule.dport;
    rules.push({ ...rule, dport, target: hasPort ? { ...target, toPort: port } : target });
  }
  const servicePorts = plan.servicePorts.map((sp) => ({
    ...sp,
    listeners: sp.listeners.map((l) => {
      const port = l.proxyPort === 0 ? bound.get(l.id) : undefined;
      return port === undefined ? l : { ...l, proxyPort: port };
    }),
  }));
  return { ...plan, servicePorts, rules };
}
