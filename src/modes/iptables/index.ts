/**
 * The iptables proxy mode: kube-proxy's iptables rules, planned purely, applied with iptables-restore
 * (full then partial syncs), traced by the shared restore-format tracer.
 *
 * @module
 */
import { KernelError } from '../../kernel/exec.ts';
import { compareVersions, createIptables, IptablesHostError, iptablesFor } from '../../kernel/iptables.ts';
import type { ModeDefinition, ProxierDeps } from '../mode.ts';
import { cleanupEachBackend, cleanupIptables } from './cleanup.ts';
import { planIptables } from './plan.ts';
import { IptablesProxier } from './proxier.ts';
import { renderIptablesPlan } from './render.ts';
import { traceState } from './trace.ts';

/** iptables 1.6.2 brought `--random-fully` and `-w` for iptables-restore. */
const MIN_VERSION = '1.6.2';

async function checkHost(deps: ProxierDeps): Promise<void> {
  const ipt = await createIptables(deps.exec, deps.iptablesBackend);
  const restore = `iptables-${ipt.backend}-restore`;
  let version: string;
  try {
    version = await ipt.version();
    const r = await deps.exec(restore, ['--version']);
    if (r.code !== 0) throw new KernelError(`${restore} --version`, r.code, r.stderr);
  } catch (error) {
    throw new IptablesHostError(`The iptables mode needs ${restore}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (compareVersions(version, MIN_VERSION) < 0) {
    throw new IptablesHostError(`The iptables mode needs iptables ${MIN_VERSION} or later: found ${version}`);
  }
}

async function cleanup(deps: ProxierDeps): Promise<void> {
  await cleanupEachBackend(deps.iptablesBackend, async (backend) => {
    const report = await cleanupIptables(iptablesFor(deps.exec, backend));
    deps.logger.info({ backend, ...report }, 'Removed iptables mode rules');
  });
}

/** The iptables mode. */
export const iptablesMode: ModeDefinition = {
  name: 'iptables',
  renderRules: (state, options) => renderIptablesPlan(planIptables(state, options)),
  trace: traceState,
  checkHost,
  createProxier: (deps) => new IptablesProxier(deps),
  cleanup,
};
