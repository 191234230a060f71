/**
 * The iptables proxy mode: kube-proxy's iptables rules, planned purely, applied with iptables-restore
 * (full then partial syncs), traced by the shared restore-format tracer.
 *
 * Besides the mode itself, this is the mode's public seam for the benchmarks: planning and applying
 * measured apart ({@link planIptables}, {@link IptablesProxier}), and the rules as restore input.
 *
 * @module
 */
import { withTopology } from '../../trace/topology_trace.ts';
import type { ModeDefinition } from '../mode.ts';
import { cleanupIptablesMode } from './cleanup.ts';
import { checkIptablesHost } from './host.ts';
import { planIptables } from './plan.ts';
import { IptablesProxier } from './proxier.ts';
import { renderIptablesPlan } from './render.ts';
import { traceState } from './trace.ts';

/** The iptables mode. */
export const iptablesMode: ModeDefinition = {
  name: 'iptables',
  // One Proxier per family, as upstream: iptables for IPv4, ip6tables for IPv6.
  ipFamilies: ['IPv4', 'IPv6'],
  renderRules: (state, options) => renderIptablesPlan(planIptables(state, options)),
  trace: (state, options, packet) =>
    withTopology(traceState(state, options, packet), { state, options, packet }),
  checkHost: checkIptablesHost,
  createProxier: (deps) => new IptablesProxier(deps),
  cleanup: cleanupIptablesMode,
};

export {
  type IptablesPlan,
  LARGE_CLUSTER_ENDPOINTS,
  type PlanReuse,
  planIptables,
  type ServicePortRules,
} from './plan.ts';
export { IptablesProxier, type IptablesProxierSeams, NFT_BATCH_RULES } from './proxier.ts';
export { renderIptablesPlan } from './render.ts';
