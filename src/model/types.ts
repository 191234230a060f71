/**
 * kproxy's internal object model: what the sources produce after validation and what the tracker folds
 * into a {@link ProxyState}. Everything here is plain, immutable data; Kubernetes API types stay at the
 * edge (sources/), so that planning code never sees an unvalidated field.
 *
 * @module
 */

/** Layer-4 protocols a Service port can carry. */
export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** IP families, named as Kubernetes names them in `spec.ipFamilies`. */
export type IPFamily = 'IPv4' | 'IPv6';

/** `spec.sessionAffinity`, with the ClientIP timeout already defaulted (10800 s). */
export type SessionAffinity =
  | { readonly type: 'None' }
  | { readonly type: 'ClientIP'; readonly timeoutSeconds: number };

/** `spec.externalTrafficPolicy` / `spec.internalTrafficPolicy`. */
export type TrafficPolicy = 'Cluster' | 'Local';

/**
 * `spec.trafficDistribution`. kube-proxy does not read it: the EndpointSlice controller turns it into
 * endpoint hints (`PreferClose` and its newer name `PreferSameZone` into `hints.forZones`, `PreferSameNode`
 * into `hints.forNodes` and `hints.forZones`), and the proxy follows the hints. Carried for `kproxy trace`.
 */
export type TrafficDistribution = 'PreferClose' | 'PreferSameZone' | 'PreferSameNode';

/** Which hints chose a service port's cluster endpoints (upstream's topology modes, `""` being none). */
export type TopologyMode = 'PreferSameZone' | 'PreferSameNode';

/**
 * How topology shaped a service port's cluster endpoints on this node, and why (for `kproxy trace`).
 * Local endpoints (traffic policy Local) never depend on topology, as upstream.
 */
export interface TopologyDecision {
  /** The hints used, or undefined when every usable endpoint is a candidate. */
  readonly mode: TopologyMode | undefined;
  /** One line for people, e.g. `hints for zone zone-a used` or `ignored: endpoint 10.0.0.3:80 has no zone hint`. */
  readonly reason: string;
}

/** This node's topology, as the tracker takes it (from the Node object's labels). */
export interface NodeTopology {
  /** The `topology.kubernetes.io/zone` label; undefined when the node has none (or it is empty). */
  readonly zone: string | undefined;
}

/** Service types that kproxy proxies (headless and ExternalName services are skipped by the sources). */
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';

/** Identifies one object: the key of source events. */
export interface ObjectRef {
  readonly kind: 'Service' | 'EndpointSlice' | 'Endpoints';
  readonly namespace: string;
  readonly name: string;
}

/** One port of a Service, validated. */
export interface ServicePortSpec {
  /** `ports[].name`; empty string for a single unnamed port. */
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
  /** A number, or the name of a container port resolved through each EndpointSlice's ports. */
  readonly targetPort: number | string;
  /** 0 when the port has no node port. */
  readonly nodePort: number;
}

/** A Service, validated and reduced to what a proxy needs. */
export interface ServiceSpec {
  readonly namespace: string;
  readonly name: string;
  readonly type: ServiceType;
  /** `spec.clusterIPs` (or `[spec.clusterIP]`), primary family first; never empty for a proxied service. */
  readonly clusterIPs: readonly string[];
  readonly ipFamilies: readonly IPFamily[];
  readonly ports: readonly ServicePortSpec[];
  readonly externalIPs: readonly string[];
  /** `status.loadBalancer.ingress[].ip` (hostname-only ingress entries are ignored, as upstream). */
  readonly loadBalancerIPs: readonly string[];
  /** `spec.loadBalancerSourceRanges` as CIDRs. */
  readonly loadBalancerSourceRanges: readonly string[];
  readonly sessionAffinity: SessionAffinity;
  readonly externalTrafficPolicy: TrafficPolicy;
  readonly internalTrafficPolicy: TrafficPolicy;
  /** `spec.healthCheckNodePort`, 0 when unset. */
  readonly healthCheckNodePort: number;
  readonly annotations: Readonly<Record<string, string>>;
  /** `spec.trafficDistribution`; undefined when unset (or dropped as invalid). */
  readonly trafficDistribution: TrafficDistribution | undefined;
}

/** One port of an EndpointSlice (or legacy Endpoints subset). */
export interface EndpointPortSpec {
  /** Matches a {@link ServicePortSpec.name}; empty string for an unnamed port. */
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
}

/** One endpoint address with its conditions (an unset condition is already defaulted as upstream does). */
export interface EndpointAddressSpec {
  readonly addresses: readonly string[];
  /** `conditions.ready` (unset = true). */
  readonly ready: boolean;
  /** `conditions.serving` (unset = true, as upstream kube-proxy reads it). */
  readonly serving: boolean;
  /** `conditions.terminating` (unset = false). */
  readonly terminating: boolean;
  readonly nodeName: string | undefined;
  readonly zone: string | undefined;
  readonly hostname: string | undefined;
  /** `hints.forZones[].name`, sorted; empty when the endpoint has no zone hint. */
  readonly zoneHints: readonly string[];
  /** `hints.forNodes[].name`, sorted; empty when the endpoint has no node hint. */
  readonly nodeHints: readonly string[];
}

/** An EndpointSlice (or a legacy Endpoints object, converted to one slice per family). */
export interface EndpointSliceSpec {
  readonly namespace: string;
  /** The slice's own name (for legacy Endpoints: the Endpoints name). */
  readonly name: string;
  /** The service it belongs to (`kubernetes.io/service-name` label; for Endpoints: its name). */
  readonly serviceName: string;
  readonly addressType: IPFamily;
  readonly ports: readonly EndpointPortSpec[];
  readonly endpoints: readonly EndpointAddressSpec[];
  /** True when this came from a legacy core/v1 Endpoints object (ignored for a service that has slices). */
  readonly legacy: boolean;
  /**
   * The `endpoints.kubernetes.io/last-change-trigger-time` annotation (epoch ms): when the change that
   * this version of the object carries was triggered (a pod became ready, say), as the endpoint
   * controllers set it. Network programming latency is measured from it; undefined when absent or bad.
   */
  readonly lastChangeTriggerTime?: number | undefined;
}

/**
 * The key of one service port: `namespace/name:portName/PROTOCOL`, e.g. `default/web:http/TCP`
 * (`default/web:/TCP` for an unnamed port). Stable, so it can seed hashed chain names.
 */
export type ServicePortKey = string;

/** One endpoint of one service port, after named-port resolution. */
export interface Endpoint {
  readonly ip: string;
  readonly port: number;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName: string | undefined;
  readonly zone: string | undefined;
  /** True when {@link nodeName} is this proxy's node. */
  readonly isLocal: boolean;
  /** The slice endpoint's `hints.forZones[].name` (empty: none). */
  readonly zoneHints: readonly string[];
  /** The slice endpoint's `hints.forNodes[].name` (empty: none). */
  readonly nodeHints: readonly string[];
}

/** Everything a mode needs to program one service port. All arrays are sorted (by IP, then port). */
export interface ServicePortState {
  readonly key: ServicePortKey;
  readonly namespace: string;
  readonly serviceName: string;
  readonly portName: string;
  readonly protocol: Protocol;
  readonly type: ServiceType;
  readonly port: number;
  readonly nodePort: number;
  readonly clusterIPs: readonly string[];
  readonly ipFamilies: readonly IPFamily[];
  readonly externalIPs: readonly string[];
  readonly loadBalancerIPs: readonly string[];
  readonly loadBalancerSourceRanges: readonly string[];
  readonly sessionAffinity: SessionAffinity;
  readonly externalTrafficPolicy: TrafficPolicy;
  readonly internalTrafficPolicy: TrafficPolicy;
  readonly healthCheckNodePort: number;
  readonly annotations: Readonly<Record<string, string>>;
  readonly trafficDistribution: TrafficDistribution | undefined;
  /** How topology hints shaped {@link clusterEndpoints}, and why. */
  readonly topology: TopologyDecision;
  /** Every endpoint known for this port, whatever its conditions. */
  readonly allEndpoints: readonly Endpoint[];
  /**
   * Endpoints for traffic that uses cluster endpoints (internalTrafficPolicy Cluster, or external traffic
   * with externalTrafficPolicy Cluster): ready ones, narrowed by topology hints when they apply (see
   * {@link topology}); if none is ready, serving+terminating ones (without topology).
   */
  readonly clusterEndpoints: readonly Endpoint[];
  /** Endpoints on this node, with the same ready-else-terminating fallback applied to the local set. */
  readonly localEndpoints: readonly Endpoint[];
  /** What internal (clusterIP) traffic may reach: clusterEndpoints, or localEndpoints when ITP=Local. */
  readonly internalEndpoints: readonly Endpoint[];
  /** What external traffic (nodePort, externalIPs, LB) may reach: per externalTrafficPolicy. */
  readonly externalEndpoints: readonly Endpoint[];
}

/** An immutable snapshot of everything the proxy serves, in a stable order. */
export interface ProxyState {
  /** Increases by one for every snapshot the tracker hands out. */
  readonly version: number;
  /** The node this proxy runs for (`--hostname-override`). */
  readonly nodeName: string;
  /** Keyed by {@link ServicePortKey}, iterated in sorted key order. */
  readonly servicePorts: ReadonlyMap<ServicePortKey, ServicePortState>;
  /** This node's zone (from the Node's labels), for topology hints; undefined when it has none. */
  readonly nodeZone?: string | undefined;
  /**
   * Undefined for the tracker's snapshot, which holds both families; set on a one-family view
   * (tracker/family_view.ts), which is what every mode plans: nothing in it is of the other family.
   */
  readonly ipFamily?: IPFamily | undefined;
}

/** What changed between two snapshots, for partial syncs and the programming-latency metric. */
export interface StateChange {
  /** Service ports that were added, removed or whose state differs. */
  readonly changed: ReadonlySet<ServicePortKey>;
  /** Service ports that exist in the previous state but not in the new one. */
  readonly removed: ReadonlySet<ServicePortKey>;
  /** For each changed key, when (epoch ms) the source first saw the change that is now being synced. */
  readonly firstSeen: ReadonlyMap<ServicePortKey, number>;
  /** Number of service and endpoint-slice events folded into this change. */
  readonly serviceEvents: number;
  readonly endpointEvents: number;
}

/** Builds a {@link ServicePortKey}. */
export function servicePortKey(
  namespace: string,
  name: string,
  portName: string,
  protocol: Protocol,
): ServicePortKey {
  return `${namespace}/${name}:${portName}/${protocol}`;
}
