/**
 * The userspace mode (kube-proxy 1.0's, done right): kproxy relays every connection itself. With root and
 * iptables it installs nat portal rules that send each VIP to a relay listener; without, it serves the VIPs
 * that are local addresses by listening on them directly (the embedded default that `npm start` runs).
 *
 * @module
 */
import type { ModeDefinition } from '../mode.ts';
import { planUserspace } from './plan.ts';
import { PortalRules } from './portal_rules.ts';
import { createUserspaceProxier } from './proxier.ts';
import { renderUserspaceRules } from './render.ts';
import { traceUserspace } from './trace.ts';

export { createUserspaceProxier, type UserspaceProxierOptions, type UserspaceStats } from './proxier.ts';

/** The userspace mode, as the CLI loads it. */
export const userspaceMode: ModeDefinition = {
  name: 'userspace',
  renderRules(state, options) {
    return renderUserspaceRules(planUserspace(state, options));
  },
  trace(state, options, packet) {
    return traceUserspace(planUserspace(state, options), options, packet);
  },
  async checkHost() {
    // The relay needs nothing but Node; without root or iptables it serves local VIPs directly.
  },
  createProxier(deps) {
    return createUserspaceProxier(deps);
  },
  async cleanup(deps) {
    await new PortalRules(deps.exec, deps.iptablesBackend).cleanup();
  },
};
