/**
 * Names and comments of the nftables mode, and the rules that keep object names out of the script's
 * syntax.
 *
 * Names follow upstream (pkg/proxy/nftables): everything lives in table `ip kube-proxy` (`ip6 kube-proxy`
 * for IPv6), so names need no `kube-` prefix; per-service objects are
 * `PREFIX-HASH-namespace/name/protocol/port` and per-endpoint ones
 * `PREFIX-HASH-namespace/name/protocol/port__ip/port`, HASH being the first 8 base32 characters of sha256
 * of the rest (so a kube-proxy user finds the same names for the same service).
 *
 * Why the checks: an nft identifier may hold only `[A-Za-z0-9_./-]` and starts with a letter here (the
 * prefix), names are at most {@link NFT_NAME_MAX} bytes (the kernel's NFT_NAME_MAXLEN 256 with its NUL),
 * and a comment is a `"..."` string without escapes, at most {@link NFT_COMMENT_MAX} bytes. Kubernetes
 * validation already keeps namespaces, names and port names to `[a-z0-9-]`, which upstream relies on;
 * kproxy does not: any other character is replaced (`_` in names, `?` in comments) and long names are
 * cut, so that no object can end a name or a string early, start a new command or exceed a limit. The
 * hash is taken over the original text, so replaced names stay distinct.
 *
 * @module
 */
import { sha256Base32 } from '../common/base32.ts';

/** kproxy's table, as upstream's: `ip kube-proxy` for IPv4, `ip6 kube-proxy` for IPv6. */
export const NFT_TABLE = 'kube-proxy';

/** The longest chain, set or map name the kernel accepts (NFT_NAME_MAXLEN minus the NUL). */
export const NFT_NAME_MAX = 255;

/** The longest comment nft accepts (NFTNL_UDATA_COMMENT_MAXLEN). */
export const NFT_COMMENT_MAX = 128;

/**
 * The longest name part after a prefix, as upstream (knftables.NameLengthMax 256 minus the longest
 * prefix allowance of 16); with kproxy's 9-character prefixes every name stays within {@link NFT_NAME_MAX}.
 */
const NAME_BASE_MAX = 240;

/** The fixed chains, sets and maps (upstream's names). */
export const NFT_NAMES = {
  // base chains: TYPE-HOOK[-pre-dnat]
  filterPreroutingPreDnat: 'filter-prerouting-pre-dnat',
  filterOutputPreDnat: 'filter-output-pre-dnat',
  filterInput: 'filter-input',
  filterForward: 'filter-forward',
  filterOutput: 'filter-output',
  natPrerouting: 'nat-prerouting',
  natOutput: 'nat-output',
  natPostrouting: 'nat-postrouting',
  // service dispatch
  services: 'services',
  serviceIPs: 'service-ips',
  serviceNodePorts: 'service-nodeports',
  nodePortIPs: 'nodeport-ips',
  clusterIPs: 'cluster-ips',
  // no endpoints
  serviceEndpointsCheck: 'service-endpoints-check',
  nodePortEndpointsCheck: 'nodeport-endpoints-check',
  noEndpointServices: 'no-endpoint-services',
  noEndpointNodePorts: 'no-endpoint-nodeports',
  rejectChain: 'reject-chain',
  // unknown ports of cluster IPs
  clusterIPsCheck: 'cluster-ips-check',
  // loadBalancerSourceRanges
  firewallIPs: 'firewall-ips',
  firewallCheck: 'firewall-check',
  // masquerading
  markForMasquerade: 'mark-for-masquerade',
  masquerading: 'masquerading',
  hairpinEndpoints: 'hairpin-endpoints',
  // a deleted or recreated table (the applier's canary)
  canary: 'canary',
} as const;

/** The shared sets and maps that service ports add elements to. */
export type SharedContainerName =
  | typeof NFT_NAMES.clusterIPs
  | typeof NFT_NAMES.nodePortIPs
  | typeof NFT_NAMES.firewallIPs
  | typeof NFT_NAMES.noEndpointNodePorts
  | typeof NFT_NAMES.noEndpointServices
  | typeof NFT_NAMES.serviceIPs
  | typeof NFT_NAMES.serviceNodePorts
  | typeof NFT_NAMES.hairpinEndpoints;

/**
 * The prefixes of the endpoint maps' names: `endpoint-ips-tcp-0` holds addresses (its chains' endpoints
 * share one port, which the rule names), `endpoints-tcp-0` address-and-port pairs. No fixed name starts
 * with either.
 */
export const ENDPOINT_MAP_PREFIXES = { addresses: 'endpoint-ips-', pairs: 'endpoints-' } as const;

/** What an endpoint map holds: addresses, or address and port pairs. */
export type EndpointMapValue = keyof typeof ENDPOINT_MAP_PREFIXES;

/**
 * Names an endpoint map: one per protocol, group of service ports and kind of value (see endpoint_slots.ts).
 *
 * @param protocol `tcp`, `udp` or `sctp`
 * @param group the group's number
 * @param value what it holds (default: addresses)
 * @returns e.g. `endpoint-ips-tcp-0`, `endpoints-tcp-0`
 * @example endpointMapName('udp', 3, 'pairs') // 'endpoints-udp-3'
 */
export function endpointMapName(
  protocol: string,
  group: number,
  value: EndpointMapValue = 'addresses',
): string {
  return `${ENDPOINT_MAP_PREFIXES[value]}${protocol}-${group}`;
}

const ENDPOINT_MAP_NAME = /^(endpoint-ips|endpoints)-(tcp|udp|sctp)-(\d+)$/;

/**
 * Reads an endpoint map's name.
 *
 * @param name a set or map name
 * @returns its protocol, group and value kind, or undefined when it is not an endpoint map's
 * @example parseEndpointMapName('endpoints-udp-3') // { protocol: 'udp', group: 3, value: 'pairs' }
 */
export function parseEndpointMapName(
  name: string,
): { protocol: 'tcp' | 'udp' | 'sctp'; group: number; value: EndpointMapValue } | undefined {
  const m = ENDPOINT_MAP_NAME.exec(name);
  if (m === null) return undefined;
  return {
    protocol: m[2] as 'tcp' | 'udp' | 'sctp',
    group: Number(m[3]),
    value: m[1] === 'endpoints' ? 'pairs' : 'addresses',
  };
}

/**
 * Tells whether a set or map name is an endpoint map's.
 *
 * @param name a set or map name
 * @returns true for `endpoint-ips-PROTOCOL-N` and `endpoints-PROTOCOL-N`
 * @example isEndpointMapName('endpoint-ips-tcp-0') // true
 */
export function isEndpointMapName(name: string): boolean {
  return ENDPOINT_MAP_NAME.test(name);
}

/** Prefixes of per-service and per-endpoint objects. None of the fixed names contains a `/`. */
export const SERVICE_OBJECT_PREFIXES = {
  cluster: 'service-',
  local: 'local-',
  external: 'external-',
  firewall: 'firewall-',
  endpoint: 'endpoint-',
  affinity: 'affinity-',
} as const;

/**
 * Makes one part of a name safe for an nft identifier: characters outside `[A-Za-z0-9_.-]` become `_`
 * (`/` too: it separates the parts).
 *
 * @param part a namespace, name, protocol or port name
 * @returns the part, safe inside an identifier
 * @example safeNamePart('a" -j ACCEPT') // 'a__-j_ACCEPT'
 */
export function safeNamePart(part: string): string {
  return part.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/**
 * Upstream's hashAndTruncate: `HASH-name`, cut to the base length with `...` when longer.
 *
 * @param original the name as upstream builds it (hashed as is)
 * @param shown the same name made safe (what the identifier shows)
 * @returns the name base
 */
function hashAndTruncate(original: string, shown: string): string {
  const name = `${sha256Base32(original, 8)}-${shown}`;
  return name.length > NAME_BASE_MAX ? `${name.slice(0, NAME_BASE_MAX - 3)}...` : name;
}

/** What identifies a service port in names and comments. */
export interface ServicePortIdentity {
  readonly namespace: string;
  readonly serviceName: string;
  readonly portName: string;
  /** Upper case, as the model spells it. */
  readonly protocol: string;
}

/** The names of one service port's objects. */
export interface ServiceObjectNames {
  /** `namespace/name:port` as upstream prints it, made safe for a comment. */
  readonly comment: string;
  /** `HASH-namespace/name/protocol/port`, shared by the chain names below. */
  readonly base: string;
  /** Cluster traffic policy chain (`service-`). */
  readonly cluster: string;
  /** Local traffic policy chain (`local-`). */
  readonly local: string;
  /** External destinations chain (`external-`). */
  readonly external: string;
  /** loadBalancerSourceRanges chain (`firewall-`). */
  readonly firewall: string;
}

function parts(sp: ServicePortIdentity): readonly string[] {
  return [sp.namespace, sp.serviceName, sp.protocol.toLowerCase(), sp.portName];
}

/** A part made only of identifier characters, which {@link safeNamePart} leaves as it is. */
const SAFE_PART = /^[A-Za-z0-9_.-]*$/;

/**
 * The parts joined by `/`, and the same made safe (see {@link safeNamePart}). Parts are nearly always
 * safe: then both are the same string, built once (a full plan names every service port).
 */
function joinedParts(p: readonly string[]): { original: string; shown: string } {
  const original = p.join('/');
  return {
    original,
    shown: p.every((part) => SAFE_PART.test(part)) ? original : p.map(safeNamePart).join('/'),
  };
}

/**
 * Names a service port's chains as upstream does.
 *
 * @param sp the service port
 * @returns its names
 * @example serviceObjectNames({ namespace: 'ns1', serviceName: 'svc1', portName: 'p80', protocol: 'TCP' }).cluster // 'service-ULMVA6XW-ns1/svc1/tcp/p80'
 */
export function serviceObjectNames(sp: ServicePortIdentity): ServiceObjectNames {
  const { original, shown } = joinedParts(parts(sp));
  const base = hashAndTruncate(original, shown);
  const portName = sp.portName === '' ? '' : `:${sp.portName}`;
  return {
    comment: safeComment(`${sp.namespace}/${sp.serviceName}${portName}`),
    base,
    cluster: SERVICE_OBJECT_PREFIXES.cluster + base,
    local: SERVICE_OBJECT_PREFIXES.local + base,
    external: SERVICE_OBJECT_PREFIXES.external + base,
    firewall: SERVICE_OBJECT_PREFIXES.firewall + base,
  };
}

/** The names of one endpoint's objects. */
export interface EndpointObjectNames {
  /** `endpoint-HASH-namespace/name/protocol/port__ip/port`. */
  readonly chain: string;
  /** `affinity-HASH-...`: the session-affinity set (same base). */
  readonly affinitySet: string;
}

/**
 * Names an endpoint's chain and affinity set as upstream does.
 *
 * @param sp the service port
 * @param ip the endpoint's address, canonical (an IPv6 one has its colons made dots, as upstream)
 * @param port the endpoint's port
 * @returns its names
 * @example endpointObjectNames(sp, '10.180.0.1', 80).chain // 'endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80'
 */
export function endpointObjectNames(sp: ServicePortIdentity, ip: string, port: number): EndpointObjectNames {
  const { original, shown } = joinedParts(parts(sp));
  const address = ip.replaceAll(':', '.');
  const base = hashAndTruncate(
    `${original}__${address}/${port}`,
    `${shown}__${safeNamePart(address)}/${port}`,
  );
  return {
    chain: SERVICE_OBJECT_PREFIXES.endpoint + base,
    affinitySet: SERVICE_OBJECT_PREFIXES.affinity + base,
  };
}

/**
 * Tells whether a chain is a per-service or per-endpoint chain (upstream's test: a `/` in the name,
 * which no fixed name has).
 *
 * @param name a chain name
 * @returns true for `service-`, `local-`, `external-`, `firewall-` and `endpoint-` chains
 * @example isServiceObjectName('service-ULMVA6XW-ns1/svc1/tcp/p80') // true
 */
export function isServiceObjectName(name: string): boolean {
  return name.includes('/');
}

const UNSAFE_IN_COMMENT = /[^\x20-\x7e]|["\\]/;
const UNSAFE_IN_COMMENT_ALL = new RegExp(UNSAFE_IN_COMMENT.source, 'g');

/**
 * Makes text safe for an nft comment (`comment "..."` or a `#` line): printable ASCII only, without `"`
 * and `\`, others replaced by `?`; cut to {@link NFT_COMMENT_MAX} characters.
 *
 * @param text any text (object names included)
 * @returns the text, safe between double quotes and on one line
 * @example safeComment('a"b\nc') // 'a?b?c'
 */
export function safeComment(text: string): string {
  // Tested first: a full plan makes a comment per service port, and nearly all are safe as they are.
  const safe = UNSAFE_IN_COMMENT.test(text) ? text.replace(UNSAFE_IN_COMMENT_ALL, '?') : text;
  return safe.length > NFT_COMMENT_MAX ? `${safe.slice(0, NFT_COMMENT_MAX - 3)}...` : safe;
}

/** The prefix of the shared ClusterIP chains' names (`clusterip-tcp-0`); no fixed name starts with it. */
export const CLUSTER_IP_CHAIN_PREFIX = 'clusterip-';

/**
 * Names a shared ClusterIP chain: the endpoint choice of the ClusterIP-only service ports whose slots are
 * in one endpoint map (pick_chains.ts), so named after that map's protocol and group.
 *
 * @param protocol `tcp`, `udp` or `sctp`
 * @param group the endpoint map's group
 * @returns e.g. `clusterip-tcp-0`
 * @example clusterIpChainName('tcp', 3) // 'clusterip-tcp-3'
 */
export function clusterIpChainName(protocol: string, group: number): string {
  return `${CLUSTER_IP_CHAIN_PREFIX}${protocol}-${group}`;
}
