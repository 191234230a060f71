/**
 * The userspace mode (kube-proxy 1.0's, done right): kproxy relays every connection itself. With root and
 * iptables it installs nat portal rules that send each VIP to a relay listener; without, it serves the VIPs
 * that are local addresses by listening on them directly (the embedded default that `npm start` runs). It
 * serves both IP families, one Proxier each (ip6tables portals for IPv6).
 *
 * Besides the mode itself, this is the mode's public seam for the benchmarks: the plan, the portal rules'
 * applier, the Proxier (the relay, which the mode's lab driver runs for its kernel tests and the relay
 * bench) and the relay engines' names.
 *
 * @module
 */
import { withTopology } from '../../trace/topology_trace.ts';
import type { ModeDefinition } from '../mode.ts';
import { cleanupUserspace, removeLeftoverPortals } from './cleanup.ts';
import { checkUserspaceHost } from './host.ts';
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
  // One Proxier per family: ip6tables portals and IPv6 listeners for IPv6 (dual_stack.ts).
  ipFamilies: ['IPv4', 'IPv6'],
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
  checkHost: checkUserspaceHost,
  createProxier(deps) {
    return createUserspaceProxier(deps);
  },
  cleanup: cleanupUserspace,
  removeLeftovers: removeLeftoverPortals,
};
