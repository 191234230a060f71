/**
 * Maps `--proxy-mode` names to mode definitions. Modes load lazily, so that `kproxy rules --proxy-mode
 * iptables` does not load the userspace relay and the other way round.
 *
 * @module
 */
import type { ModeDefinition, ProxyMode } from './mode.ts';

/** Every mode, as `--proxy-mode` accepts it. */
export const PROXY_MODES: readonly ProxyMode[] = ['userspace', 'iptables', 'ipvs'];

/**
 * Loads a mode.
 *
 * @param mode its name
 * @returns its definition
 * @example const mode = await loadMode('iptables'); console.log(mode.renderRules(state, options));
 */
export async function loadMode(mode: ProxyMode): Promise<ModeDefinition> {
  switch (mode) {
    case 'userspace':
      return (await import('./userspace/index.ts')).userspaceMode;
    case 'iptables':
      return (await import('./iptables/index.ts')).iptablesMode;
    case 'ipvs':
      return (await import('./ipvs/index.ts')).ipvsMode;
    default: {
      const never: never = mode;
      throw new Error(`Unknown proxy mode: ${String(never)}`);
    }
  }
}

/** Narrows a flag value to a {@link ProxyMode}. */
export function isProxyMode(value: string): value is ProxyMode {
  return (PROXY_MODES as readonly string[]).includes(value);
}
