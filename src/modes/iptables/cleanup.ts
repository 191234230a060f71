/**
 * `kproxy cleanup` for the iptables mode: every chain this mode creates (KUBE-SERVICES and the other
 * fixed chains, every KUBE-SVC/SVL/EXT/FW/SEP chain, the canary) and every rule that jumps to one of
 * them, in nat, filter and mangle, on the backends `--iptables-backend` names (the removal itself is
 * shared with the ipvs mode: common/iptables_chain_cleanup.ts).
 *
 * @module
 */
import type { Iptables } from '../../kernel/iptables.ts';
import { iptablesFor } from '../../kernel/iptables.ts';
import {
  KUBE_EXTERNAL_SERVICES,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_CANARY,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
} from '../common/iptables_base_chains.ts';
import { type CleanupReport, cleanupEachBackend, cleanupIptables } from '../common/iptables_chain_cleanup.ts';
import type { ProxierDeps } from '../mode.ts';
import { isServiceChain } from './chain_names.ts';

const FIXED: ReadonlySet<string> = new Set([
  KUBE_SERVICES,
  KUBE_EXTERNAL_SERVICES,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_MARK_MASQ,
  KUBE_FORWARD,
  KUBE_PROXY_FIREWALL,
  KUBE_PROXY_CANARY,
]);

/**
 * Tells whether the iptables mode creates a chain of this name.
 *
 * @param chain a chain name
 * @returns true for kproxy's fixed and per-service chains
 * @example isIptablesModeChain('KUBE-SEP-SXIVWICOYRO3J4NJ') // true
 */
export function isIptablesModeChain(chain: string): boolean {
  return FIXED.has(chain) || isServiceChain(chain);
}

/**
 * Removes the iptables mode's chains and the jumps to them through one backend.
 *
 * @param ipt the iptables seam
 * @returns what was removed
 * @example await removeIptablesModeChains(iptablesFor(exec, 'legacy'))
 */
export function removeIptablesModeChains(ipt: Iptables): Promise<CleanupReport> {
  return cleanupIptables(ipt, { owns: (_table, chain) => isIptablesModeChain(chain) });
}

/**
 * `kproxy cleanup --proxy-mode iptables`: removes the mode's chains on every backend
 * `--iptables-backend` names; succeeds when nothing is there.
 *
 * @param deps the daemon's deps (exec, backend, logger)
 * @example await cleanupIptablesMode(deps)
 */
export async function cleanupIptablesMode(deps: ProxierDeps): Promise<void> {
  await cleanupEachBackend(deps.iptablesBackend, async (backend) => {
    const report = await removeIptablesModeChains(iptablesFor(deps.exec, backend));
    deps.logger.info({ backend, ...report }, 'Removed iptables mode rules');
  });
}
