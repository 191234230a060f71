/**
 * `kproxy cleanup` for the iptables mode: every chain this mode creates (KUBE-SERVICES and the other
 * fixed chains, every KUBE-SVC/SVL/EXT/FW/SEP chain, the canary) and every rule that jumps to one of
 * them, in nat, filter and mangle, of both IP families (iptables and ip6tables), on the backends
 * `--iptables-backend` names (the removal itself is shared with the ipvs mode:
 * common/iptables_chain_cleanup.ts).
 *
 * @module
 */
import { KernelError } from '../../kernel/exec.ts';
import type { Iptables } from '../../kernel/iptables.ts';
import { iptablesFor } from '../../kernel/iptables.ts';
import { IP_FAMILIES } from '../../model/ip_family.ts';
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
 * `kproxy cleanup --proxy-mode iptables`: removes the mode's chains of both families on every backend
 * `--iptables-backend` names; succeeds when nothing is there (a host without ip6tables has no IPv6
 * rules of ours to remove).
 *
 * @param deps the daemon's deps (exec, backend, logger)
 * @example await cleanupIptablesMode(deps)
 */
export async function cleanupIptablesMode(deps: ProxierDeps): Promise<void> {
  await cleanupEachBackend(deps.iptablesBackend, async (backend) => {
    for (const family of IP_FAMILIES) {
      let report: CleanupReport;
      try {
        report = await removeIptablesModeChains(iptablesFor(deps.exec, backend, { family }));
      } catch (error) {
        // IPv4 is required, as for the daemon; ip6tables not installed means no IPv6 rules of ours.
        if (family === 'IPv6' && error instanceof KernelError && error.exitCode === -1) {
          deps.logger.info({ backend, ipFamily: family }, 'No ip6tables here: no IPv6 rules to remove');
          continue;
        }
        throw error;
      }
      deps.logger.info({ backend, ipFamily: family, ...report }, 'Removed iptables mode rules');
    }
  });
}
