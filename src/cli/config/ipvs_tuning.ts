/**
 * The ipvs mode's node settings from the effective configuration (`ipvs.strictARP`, `ipvs.excludeCIDRs`,
 * `ipvs.tcpTimeout`, `ipvs.tcpFinTimeout`, `ipvs.udpTimeout`), for src/modes/ipvs/tuning.ts.
 *
 * @module
 */
import type { IpvsTuning } from '../../contracts/plan_options.ts';
import type { KubeProxyConfiguration } from './types.ts';

/**
 * Reads the ipvs settings of a validated configuration.
 *
 * @param config the effective configuration
 * @returns the settings the ipvs Proxier applies
 * @example ipvsTuningFromConfig(resolved.config).strictARP // false by default
 */
export function ipvsTuningFromConfig(config: KubeProxyConfiguration): IpvsTuning {
  const { ipvs } = config;
  return {
    strictARP: ipvs.strictARP,
    excludeCIDRs: [...(ipvs.excludeCIDRs ?? [])],
    tcpTimeoutMs: ipvs.tcpTimeout,
    tcpFinTimeoutMs: ipvs.tcpFinTimeout,
    udpTimeoutMs: ipvs.udpTimeout,
  };
}
