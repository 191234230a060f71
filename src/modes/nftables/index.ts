/**
 * The nftables proxy mode (`--proxy-mode nftables`): upstream kube-proxy's nftables ruleset planned as a
 * value, applied as one `nft -f` transaction per sync (full, then partial syncs), printed by `kproxy
 * rules` exactly as a full sync writes it on a fresh host, and traced packet by packet.
 *
 * Besides the mode itself, this is the mode's public seam for the benchmarks: planning, rendering and
 * applying measured apart ({@link planNftables}, {@link renderNftablesPlan}, {@link NftablesProxier}).
 *
 * @module
 */
import { withTopology } from '../../trace/topology_trace.ts';
import type { ModeDefinition } from '../mode.ts';
import { cleanupNftablesMode } from './cleanup.ts';
import { checkNftablesHost } from './host.ts';
import { planNftables } from './plan.ts';
import { NftablesProxier } from './proxier.ts';
import { fullSyncScript } from './sync_input.ts';
import { traceNftablesState } from './trace.ts';

/** The nftables mode. */
export const nftablesMode: ModeDefinition = {
  name: 'nftables',
  // One Proxier per family, each with its own table (`ip kube-proxy`, `ip6 kube-proxy`), as upstream.
  ipFamilies: ['IPv4', 'IPv6'],
  // The full-sync script over no table: what `run` sends on a fresh host.
  renderRules: (state, options) => fullSyncScript(planNftables(state, options), undefined).text,
  trace: (state, options, packet) =>
    withTopology(traceNftablesState(state, options, packet), { state, options, packet }),
  checkHost: checkNftablesHost,
  createProxier: (deps) => new NftablesProxier(deps),
  cleanup: cleanupNftablesMode,
};

export { type NftablesPlan, type NftablesPlanReuse, planNftables } from './plan.ts';
export { NftablesProxier, type NftablesProxierSeams } from './proxier.ts';
export { renderNftablesPlan } from './render.ts';
export { traceNftablesPlan, traceNftablesState } from './trace.ts';
