/**
 * The ipvs mode's node settings from the effective configuration (`ipvs.strictARP`, `ipvs.excludeCIDRs`,
 * `ipvs.tcpTimeout`, `ipvs.tcpFinTimeout`, `ipvs.udpTimeout`), for src/modes/ipvs/tuning.ts.
 *
 * @module
 */
import type { KubeProxyConfiguration } from './types.ts';

/**
 * The ipvs settings, in the shape of the ipvs mode's `IpvsTuning` (src/modes/ipvs/tuning.ts; only the mode
 * registry may import a mode, so the CLI spells the same shape here and TypeScript checks it structurally).
 */
export interface IpvsTuningSettings {
  readonly strictARP: boolean;
  readonly excludeCIDRs: readonly string[];
  readonly tcpTimeoutMs: number;
  readonly tcpFinTimeoutMs: number;
  readonly udpTimeoutMs: number;
}

/**
 * Reads the ipvs settings of a validated configuration.
 *
 * @param config the effective configuration
 * @returns the settings the ipvs Proxier applies
 * @example ipvsTuningFromConfig(resolved.config).strictARP // false by default
 */
export function ipvsTuningFromConfig(config: KubeProxyConfiguration): IpvsTuningSettings {
  const { ipvs } = config;
  return {
    strictARP: ipvs.strictARP,
    excludeCIDRs: [...(ipvs.excludeCIDRs ?? [])],
    tcpTimeoutMs: ipvs.tcpTimeout,
    tcpFinTimeoutMs: ipvs.tcpFinTimeout,
    udpTimeoutMs: ipvs.udpTimeout,
  };
}
