/**
 * What `kproxy trace` says about topology: for the service port a packet is addressed to, which endpoints
 * topology-aware routing kept on this node and why (the tracker's {@link TopologyDecision}). The rules the
 * packet walks already hold only the kept endpoints; this says why the others are missing.
 *
 * Added to a {@link TraceResult} as a new `topology` field (JSON) and as `topology ...` steps at the end of
 * its `path` (text), only for service ports where topology has something to say (an endpoint has hints,
 * or the service sets `trafficDistribution`), so that other traces are unchanged.
 *
 * @module
 */
import type { PlanOptions } from '../contracts/plan_options.ts';
import type { TracePacket, TraceResult } from '../contracts/trace.ts';
import type {
  Endpoint,
  ProxyState,
  ServicePortKey,
  ServicePortState,
  TopologyMode,
  TrafficDistribution,
} from '../model/types.ts';

/** Topology's part in one traced service port (an element of {@link TopologyTraceResult.topology}). */
export interface TopologyTrace {
  readonly servicePort: ServicePortKey;
  /** Whether the packet is internal (a cluster IP) or external (node port, external or load-balancer IP). */
  readonly traffic: 'internal' | 'external';
  /** The service's `spec.trafficDistribution` (it reaches the proxy only through the hints it asks for). */
  readonly trafficDistribution: TrafficDistribution | undefined;
  /** The hints used for cluster endpoints (undefined: none, every usable endpoint is kept). */
  readonly mode: TopologyMode | undefined;
  /** Why, e.g. `hints for zone zone-a used`. */
  readonly reason: string;
  /** Whether the packet's traffic goes to the topology-filtered cluster endpoints (false under policy Local). */
  readonly applies: boolean;
  /** The cluster endpoints kept (`ip:port`). */
  readonly kept: readonly string[];
  /** The usable endpoints topology left out (`ip:port`). */
  readonly dropped: readonly string[];
}

/** A {@link TraceResult} with topology's explanation beside it. */
export interface TopologyTraceResult extends TraceResult {
  /** One element per service port the packet is addressed to whose topology has something to say. */
  readonly topology?: readonly TopologyTrace[];
}

function address(e: Endpoint): string {
  return e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

/** How the packet reaches the service port, or undefined when it is not addressed to it. */
function trafficOf(
  sp: ServicePortState,
  packet: TracePacket,
  nodeIPs: readonly string[],
): 'internal' | 'external' | undefined {
  if (sp.protocol !== packet.protocol) return undefined;
  const to = packet.destination;
  if (packet.port === sp.port) {
    if (sp.clusterIPs.includes(to)) return 'internal';
    if (sp.externalIPs.includes(to) || sp.loadBalancerIPs.includes(to)) return 'external';
  }
  if (sp.nodePort !== 0 && packet.port === sp.nodePort && nodeIPs.includes(to)) return 'external';
  return undefined;
}

function explain(sp: ServicePortState, traffic: 'internal' | 'external'): TopologyTrace {
  const policy = traffic === 'internal' ? sp.internalTrafficPolicy : sp.externalTrafficPolicy;
  const kept = new Set(sp.clusterEndpoints);
  // What the cluster endpoints would be without topology: the ready ones (topology only narrows those).
  const ready = sp.allEndpoints.filter((e) => e.ready);
  return {
    servicePort: sp.key,
    traffic,
    trafficDistribution: sp.trafficDistribution,
    mode: sp.topology.mode,
    reason: sp.topology.reason,
    applies: policy === 'Cluster',
    kept: sp.clusterEndpoints.map(address),
    dropped: sp.topology.mode === undefined ? [] : ready.filter((e) => !kept.has(e)).map(address),
  };
}

/** The `path` step of one explanation, for people. */
function step(t: TopologyTrace): string {
  const head = `topology (${t.servicePort})`;
  const asked = t.trafficDistribution === undefined ? '' : `trafficDistribution ${t.trafficDistribution}; `;
  if (!t.applies) {
    const policy = t.traffic === 'internal' ? 'internalTrafficPolicy' : 'externalTrafficPolicy';
    return `${head}: not used: ${policy} Local sends ${t.traffic} traffic to this node's endpoints (${t.reason})`;
  }
  if (t.mode === undefined) {
    const why =
      t.reason === 'no hints' && t.trafficDistribution !== undefined
        ? 'no hints (the EndpointSlice controller writes them; the proxy follows only hints)'
        : t.reason;
    return `${head}: ${asked}${why}: every usable endpoint kept`;
  }
  const dropped = t.dropped.length === 0 ? '' : `; left out ${t.dropped.join(', ')}`;
  return `${head}: ${asked}${t.reason}: kept ${t.kept.join(', ')}${dropped}`;
}

/**
 * Explains topology for the service ports a packet is addressed to.
 *
 * @param state the proxy state the plan was made from
 * @param input the packet, and this node's addresses (node ports)
 * @returns one explanation per such service port where topology has something to say (possibly none)
 * @example explainTopology(state, { packet, nodeIPs: options.nodeIPs })[0]?.reason // 'hints for zone zone-a used'
 */
export function explainTopology(
  state: ProxyState,
  input: { readonly packet: TracePacket; readonly nodeIPs: readonly string[] },
): TopologyTrace[] {
  const out: TopologyTrace[] = [];
  for (const sp of state.servicePorts.values()) {
    const traffic = trafficOf(sp, input.packet, input.nodeIPs);
    if (traffic === undefined) continue;
    if (sp.topology.reason === 'no hints' && sp.trafficDistribution === undefined) continue;
    out.push(explain(sp, traffic));
  }
  return out;
}

/**
 * Adds topology's explanation to a mode's trace result: the `topology` field and one `path` step per
 * explained service port. A result with nothing to explain is returned as it is.
 *
 * @param result what the mode's tracer returned
 * @param input the state the plan was made from, the plan options and the packet
 * @returns the result, with topology's explanation when there is one
 * @example withTopology(tracePlan(plan, options, packet), { state, options, packet }).topology
 */
export function withTopology(
  result: TraceResult,
  input: { readonly state: ProxyState; readonly options: PlanOptions; readonly packet: TracePacket },
): TopologyTraceResult {
  const topology = explainTopology(input.state, { packet: input.packet, nodeIPs: input.options.nodeIPs });
  if (topology.length === 0) return result;
  return { ...result, path: [...result.path, ...topology.map(step)], topology };
}
