/**
 * The iptables mode's startup check: the iptables tools of the backend run (iptables and
 * iptables-restore; ip6tables and ip6tables-restore for the IPv6 proxier), in a version that has what the
 * rules use; for IPv6, the kernel's IPv6 nat table answers too (upstream's `Present()` check), since the
 * IPv6 NAT module is the piece most often missing.
 *
 * @module
 */
import {
  compareVersions,
  IptablesHostError,
  iptablesFor,
  probeIptablesTools,
  resolveIptablesBackend,
} from '../../kernel/iptables.ts';
import type { ProxierDeps } from '../mode.ts';

/** iptables 1.6.2 brought `--random-fully` and `-w` for iptables-restore. */
const MIN_VERSION = '1.6.2';

/**
 * Fails with {@link IptablesHostError} unless the iptables tools of the chosen backend and of the
 * Proxier's family (`deps.options.ipFamily`) run here and are recent enough.
 *
 * @param deps the daemon's deps (exec, `--iptables-backend`, the family in `options.ipFamily`)
 * @throws {IptablesHostError} with the reason
 * @example await checkIptablesHost({ ...deps, options: planOptionsForFamily(deps.options, 'IPv6') })
 */
export async function checkIptablesHost(deps: ProxierDeps): Promise<void> {
  const family = deps.options.ipFamily ?? 'IPv4';
  const v6 = family === 'IPv6';
  const backend = await resolveIptablesBackend(deps.exec, deps.iptablesBackend);
  const tool = v6 ? 'ip6tables' : 'iptables';
  const restore = `${tool}-${backend}-restore`;
  const forIpv6 = v6 ? ' to serve IPv6' : '';
  let version: string;
  try {
    version = await probeIptablesTools(deps.exec, backend, { family });
  } catch (error) {
    throw new IptablesHostError(`The iptables mode needs ${restore}${forIpv6}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (compareVersions(version, MIN_VERSION) < 0) {
    throw new IptablesHostError(
      `The iptables mode needs ${tool} ${MIN_VERSION} or later${forIpv6}: found ${version}`,
    );
  }
  if (v6) {
    let present: boolean;
    try {
      present = await iptablesFor(deps.exec, backend, { family }).chainExists('nat', 'POSTROUTING');
    } catch (error) {
      throw new IptablesHostError(
        `The iptables mode cannot use the kernel's IPv6 nat table (ip6table_nat)${forIpv6}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (!present) {
      throw new IptablesHostError(
        `The iptables mode cannot use the kernel's IPv6 nat table (ip6table_nat)${forIpv6}: ${tool}-${backend} has no nat POSTROUTING chain`,
      );
    }
  }
}
