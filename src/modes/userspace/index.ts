/**
 * The userspace mode (kube-proxy 1.0's, done right): kproxy relays every connection itself. With root and
 * iptables it installs nat portal rules that send each VIP to a relay listener; without, it serves the VIPs
 * that are local addresses by listening on them directly (the embedded default that `npm start` runs).
 *
 * Besides the mode itself, this is the mode's public seam for the benchmarks: the plan, the portal rules'
 * applier, the Proxier (the relay, which the mode's lab driver runs for its kernel tests and the relay
 * bench) and the relay engines' names.
 *
 * @module
 */
import { withTopology } from '../../trace/topology_trace.ts';
import type { ModeDefinition } from '../mode.ts';
import { cleanupUserspace } from './cleanup.ts';
import { planUserspace } from './plan.ts';
import { createUserspaceProxier } from './proxier.ts';
import { renderUserspaceRules } from './render.ts';
import { traceUserspace } from './trace.ts';

export {
  listenerId,
  type ProxyPortAllocation,
  planUserspace,
  type UserspaceHost,
  type UserspacePlan,
} from './plan.ts';
export { PortalRules } from './portal_rules.ts';
export {
  createUserspaceProxier,
  type UserspaceProxier,
  type UserspaceProxierOptions,
  type UserspaceStats,
} from './proxier.ts';
export type { TcpRelayEngineChoice, TcpRelayEngineName } from './tcp_relay.ts';

/** The userspace mode, as the CLI loads it. */
export const userspaceMode: ModeDefinition = {
  name: 'userspace',
  renderRules(state, options) {
    return renderUserspaceRules(planUserspace(state, options));
  },
  trace(state, options, packet) {
    return withTopology(traceUserspace(planUserspace(state, options), options, packet), {
      state,
      options,
      packet,
    });
  },
  async checkHost() {
    // The relay needs nothing but Node; without root or iptables it serves local VIPs directly.
  },
  createProxier(deps) {
    return createUserspaceProxier(deps);
  },
  cleanup: cleanupUserspace,
};
