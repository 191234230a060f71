/**
 * `kproxy trace --proxy-mode iptables`: the plan for a state, walked for one packet by the shared
 * restore-format tracer, with the mode's jumps from the built-in chains in place.
 *
 * @module
 */

import type { PlanOptions } from '../../contracts/plan_options.ts';
import type { TracePacket, TraceResult } from '../../contracts/trace.ts';
import type { ProxyState } from '../../model/types.ts';
import { rulesetFromTables, traceIptables } from '../../trace/iptables_tracer.ts';
import { type IptablesPlan, planIptables } from './plan.ts';

/**
 * Traces a packet through a plan.
 *
 * @param plan the plan
 * @param options the plan flags (node IPs are the local addresses)
 * @param packet the packet
 * @returns verdict, masquerade, backends with probabilities, and the rules walked
 * @example tracePlan(plan, options, { source: '10.0.0.2', destination: '172.30.0.41', port: 80, protocol: 'TCP' })
 */
export function tracePlan(plan: IptablesPlan, options: PlanOptions, packet: TracePacket): TraceResult {
  return traceIptables(rulesetFromTables(plan.tables, plan.jumps), packet, {
    localAddresses: options.nodeIPs,
  });
}

/**
 * Plans and traces.
 *
 * @param state the proxy state
 * @param options the plan flags
 * @param packet the packet
 * @returns the trace
 * @example traceState(state, options, { source: '203.0.113.2', destination: '192.168.0.2', port: 30080, protocol: 'TCP' })
 */
export function traceState(state: ProxyState, options: PlanOptions, packet: TracePacket): TraceResult {
  return tracePlan(planIptables(state, options), options, packet);
}
