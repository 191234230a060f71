/**
 * The iptables mode's startup check: the iptables tools of the backend run (iptables and
 * iptables-restore), in a version that has what the rules use.
 *
 * @module
 */
import {
  compareVersions,
  IptablesHostError,
  probeIptablesTools,
  resolveIptablesBackend,
} from '../../kernel/iptables.ts';
import type { ProxierDeps } from '../mode.ts';

/** iptables 1.6.2 brought `--random-fully` and `-w` for iptables-restore. */
const MIN_VERSION = '1.6.2';

/**
 * Fails with {@link IptablesHostError} unless the iptables tools of the chosen backend run here and are
 * recent enough.
 *
 * @param deps the daemon's deps (exec, `--iptables-backend`)
 * @throws {IptablesHostError} with the reason
 * @example await checkIptablesHost(deps)
 */
export async function checkIptablesHost(deps: ProxierDeps): Promise<void> {
  const backend = await resolveIptablesBackend(deps.exec, deps.iptablesBackend);
  const restore = `iptables-${backend}-restore`;
  let version: string;
  try {
    version = await probeIptablesTools(deps.exec, backend);
  } catch (error) {
    throw new IptablesHostError(`The iptables mode needs ${restore}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (compareVersions(version, MIN_VERSION) < 0) {
    throw new IptablesHostError(`The iptables mode needs iptables ${MIN_VERSION} or later: found ${version}`);
  }
}
