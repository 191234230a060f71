/**
 * Maps `--proxy-mode` names to mode definitions. Modes load lazily, so that `kproxy rules --proxy-mode
 * iptables` does not load the userspace relay and the other way round.
 *
 * @module
 */
import type { ProxyMode } from '../contracts/proxy_mode.ts';
import type { ModeDefinition } from './mode.ts';

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
    case 'nftables':
      return (await import('./nftables/index.ts')).nftablesMode;
    default: {
      const never: never = mode;
      throw new Error(`Unknown proxy mode: ${String(never)}`);
    }
  }
}
