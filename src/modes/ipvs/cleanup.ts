/**
 * `kproxy cleanup --proxy-mode ipvs`: removes everything the ipvs mode may have programmed, and succeeds
 * when nothing is there.
 *
 * @module
 */
import { KernelError } from '../../kernel/exec.ts';
import { iptablesFor } from '../../kernel/iptables.ts';
import { cleanupEachBackend, cleanupIptables } from '../common/iptables_chain_cleanup.ts';
import type { ProxierDeps } from '../mode.ts';
import { allIpvsSetNames } from './ipsets.ts';
import { isIpvsModeChain } from './iptables_rules.ts';
import { realIpvsSeams } from './seams.ts';

/** True for "the tool is not installed" (spawn failed) or "IPVS is not in this kernel". */
function nothingThere(error: unknown): boolean {
  return (
    error instanceof KernelError &&
    (error.exitCode === -1 || /Protocol not available|Can't initialize ipvs/i.test(error.stderr))
  );
}

/**
 * Removes everything the ipvs mode may have programmed: every virtual server, kube-ipvs0, kproxy's
 * iptables chains and the jumps to them (both families, on the backends `--iptables-backend` names, with
 * the removal shared with the iptables mode), and kproxy's ipsets. Succeeds when nothing is there.
 *
 * @param deps the daemon's deps
 */
export async function cleanupIpvs(deps: ProxierDeps): Promise<void> {
  const { ipvs, netlink, ipset } = realIpvsSeams(deps);
  try {
    await ipvs.flush();
  } catch (error) {
    if (!nothingThere(error)) throw error;
  }
  await netlink.deleteDummy();
  await cleanupEachBackend(deps.iptablesBackend, async (backend) => {
    for (const family of ['IPv4', 'IPv6'] as const) {
      try {
        await cleanupIptables(iptablesFor(deps.exec, backend, { family }), { owns: isIpvsModeChain });
      } catch (error) {
        // A host without IPv6 (or without ip6tables) has no IPv6 rules to remove.
        if (family === 'IPv4' || !(error instanceof KernelError)) throw error;
        deps.logger.debug({ err: error, backend }, 'ipvs cleanup: no IPv6 iptables');
      }
    }
  });
  let existing: string[];
  try {
    existing = (await ipset.list()).map((s) => s.name);
  } catch (error) {
    if (nothingThere(error)) return;
    throw error;
  }
  const ours = new Set(allIpvsSetNames());
  for (const name of existing.filter((n) => ours.has(n))) {
    try {
      await ipset.restore(`destroy ${name}\n`);
    } catch (error) {
      // Rules of another iptables backend may still name the set; that backend's cleanup pass removes
      // them and then the set. Anything else is a real failure.
      if (!(error instanceof KernelError) || !/in use by a kernel component/.test(error.stderr)) throw error;
      deps.logger.debug(
        { set: name },
        'ipvs cleanup: set still in use by iptables rules (another backend?); kept',
      );
    }
  }
}
