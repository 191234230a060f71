/**
 * The ipvs proxy mode: kernel IPVS virtual servers (one per VIP:port:protocol) with masquerading real
 * servers, every IPVS scheduler (`--ipvs-scheduler`, or per service the `kproxy.io/ipvs-scheduler`
 * annotation), ClientIP affinity as persistence, ipsets plus a small fixed iptables ruleset, and graceful
 * termination of removed real servers.
 *
 * @module
 */
import { withTopology } from '../../trace/topology_trace.ts';
import type { ModeDefinition } from '../mode.ts';
import { cleanupIpvs } from './cleanup.ts';
import { checkIpvsHost } from './host.ts';
import { planIpvs } from './plan.ts';
import { createIpvsProxier } from './proxier.ts';
import { renderIpvsPlan } from './render.ts';
import { traceIpvs } from './trace.ts';

export { IPVS_SCHEDULER_ANNOTATION } from './scheduler.ts';

/** The ipvs mode, as the CLI loads it. */
export const ipvsMode: ModeDefinition = {
  name: 'ipvs',
  // One Proxier per family (modes/dual_stack.ts), each with its own virtual servers, sets and rules.
  ipFamilies: ['IPv4', 'IPv6'],
  renderRules: (state, options) => renderIpvsPlan(planIpvs(state, options)),
  trace: (state, options, packet) =>
    withTopology(traceIpvs(planIpvs(state, options), options, packet), { state, options, packet }),
  checkHost: checkIpvsHost,
  createProxier: (deps) => createIpvsProxier(deps, { tuning: deps.options.ipvsTuning }),
  cleanup: cleanupIpvs,
};
