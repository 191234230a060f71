/**
 * The iptables proxy mode: kube-proxy's iptables rules, planned purely, applied with iptables-restore
 * (full then partial syncs), traced by the shared restore-format tracer.
 *
 * @module
 */
import {
  compareVersions,
  IptablesHostError,
  probeIptablesTools,
  resolveIptablesBackend,
} from '../../kernel/iptables.ts';
import type { ModeDefinition, ProxierDeps } from '../mode.ts';
import { cleanupIptablesMode } from './cleanup.ts';
import { planIptables } from './plan.ts';
import { IptablesProxier } from './proxier.ts';
import { renderIptablesPlan } from './render.ts';
import { traceState } from './trace.ts';

/** iptables 1.6.2 brought `--random-fully` and `-w` for iptables-restore. */
const MIN_VERSION = '1.6.2';

async function checkHost(deps: ProxierDeps): Promise<void> {
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

/** The iptables mode. */
export const iptablesMode: ModeDefinition = {
  name: 'iptables',
  renderRules: (state, options) => renderIptablesPlan(planIptables(state, options)),
  trace: traceState,
  checkHost,
  createProxier: (deps) => new IptablesProxier(deps),
  cleanup: cleanupIptablesMode,
};
