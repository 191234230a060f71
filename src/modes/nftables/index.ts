/**
 * The nftables proxy mode's pure half: upstream kube-proxy's nftables ruleset planned as a value,
 * printed as one `nft -f` transaction, and traced packet by packet. Not registered as a `--proxy-mode`
 * yet: the applier (and the `nft` kernel seam) come next.
 *
 * @module
 */
export { type NftablesPlan, type NftablesPlanReuse, planNftables } from './plan.ts';
export { renderNftablesPlan } from './render.ts';
export { traceNftablesPlan, traceNftablesState } from './trace.ts';
