/**
 * The userspace mode's host check. The relay needs nothing but Node: without root or iptables it serves
 * local VIPs by listening on them directly, so IPv4 always passes. IPv6 fails only when it cannot work at
 * all: `--userspace-portals on` promises portal rules, and without ip6tables there can be none (with
 * `auto` the IPv6 Proxier then listens on local VIPs directly, as the IPv4 one does without iptables).
 *
 * @module
 */
import { IptablesHostError, probeIptablesTools, resolveIptablesBackend } from '../../kernel/iptables.ts';
import type { ProxierDeps } from '../mode.ts';

/**
 * Fails when this host cannot serve the family of `deps.options.ipFamily` with the userspace mode.
 *
 * @param deps the exec seam, `--iptables-backend` and the options of one family
 * @throws {IptablesHostError} for IPv6 with `--userspace-portals on` when the ip6tables tools do not run
 * @example await checkUserspaceHost({ ...deps, options: { ...deps.options, ipFamily: 'IPv6' } })
 */
export async function checkUserspaceHost(
  deps: Pick<ProxierDeps, 'exec' | 'iptablesBackend' | 'options'>,
): Promise<void> {
  if (deps.options.ipFamily !== 'IPv6' || deps.options.userspacePortals !== 'on') return;
  let restore = 'ip6tables-restore';
  try {
    const backend = await resolveIptablesBackend(deps.exec, deps.iptablesBackend);
    restore = `ip6tables-${backend}-restore`;
    await probeIptablesTools(deps.exec, backend, { family: 'IPv6' });
  } catch (error) {
    throw new IptablesHostError(
      `The userspace mode needs ${restore} for IPv6 portal rules (--userspace-portals on): ${(error as Error).message}`,
      { cause: error },
    );
  }
}
