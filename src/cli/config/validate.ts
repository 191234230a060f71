/**
 * Validation of an effective `KubeProxyConfiguration`, after the lines of upstream's
 * `pkg/proxy/apis/config/validation`: the active mode's sync periods, masquerade bits, the IPVS scheduler,
 * conntrack and timeout signs, addresses, CIDRs, the port range, NodePort addresses, local-traffic
 * detection and logging. Field paths are the file's (`iptables.syncPeriod`), not Go's type names.
 *
 * @module
 */
import { isIP } from 'node:net';
import { interfaceNamePrefixProblem, interfaceNameProblem } from '../../contracts/plan_options.ts';
import type { ConfigProblem } from './config_error.ts';
import { formatGoDuration } from './go_duration.ts';
import type { KubeProxyConfiguration } from './types.ts';

/** The modes kproxy runs (upstream's Linux modes, and kproxy's userspace relay). */
export const CONFIG_PROXY_MODES = ['iptables', 'ipvs', 'nftables', 'userspace'] as const;
/** The IPVS schedulers the ipvs mode takes; empty means rr. */
export const IPVS_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh'];
/** `detectLocalMode` values upstream knows. */
export const LOCAL_MODES = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'];

/**
 * Whether a string is a CIDR (`198.18.0.0/15`, `2001:2::/48`).
 *
 * @param text anything
 * @returns true for an IPv4 or IPv6 CIDR
 * @example isCidr('198.18.0.0/15') // true
 */
export function isCidr(text: string): boolean {
  const [ip, bits, extra] = text.split('/');
  const family = isIP(ip ?? '');
  return (
    family !== 0 &&
    extra === undefined &&
    bits !== undefined &&
    /^\d{1,3}$/.test(bits) &&
    Number(bits) <= (family === 6 ? 128 : 32)
  );
}

function hostPortProblem(address: string): string | undefined {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d+)$/.exec(address);
  if (m === null) return `must be IP:port, got ${JSON.stringify(address)}`;
  const host = m[1] ?? m[2] ?? '';
  if (isIP(host) === 0) return `must be a valid IP, got ${JSON.stringify(host)}`;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return `must be a valid port, got ${m[3]}`;
  return undefined;
}

function portRangeProblem(range: string): string | undefined {
  if (range === '') return undefined;
  const m = /^(\d+)([-+])(\d+)$/.exec(range.trim());
  if (m !== null) {
    const base = Number(m[1]);
    const last = m[2] === '-' ? Number(m[3]) : base + Number(m[3]) - 1;
    if (base >= 1 && last <= 65535 && base <= last) return undefined;
  }
  return `must be a valid port range (e.g. 30000-30100 or 30000+100), got ${JSON.stringify(range)}`;
}

/**
 * Validates an effective configuration (defaults and platform defaults applied).
 *
 * @param config the configuration
 * @returns every problem, in the file's field order (empty when valid)
 * @example validateConfiguration(defaultConfiguration()) // []
 */
export function validateConfiguration(config: KubeProxyConfiguration): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const bad = (path: string, reason: string) => problems.push({ path, reason });
  const d = formatGoDuration;

  if (!(CONFIG_PROXY_MODES as readonly string[]).includes(config.mode)) {
    bad(
      'mode',
      config.mode === 'kernelspace'
        ? '"kernelspace" is the Windows mode: kproxy runs on Linux'
        : `must be one of ${CONFIG_PROXY_MODES.join(', ')} or empty (iptables), got ${JSON.stringify(config.mode)}`,
    );
  }
  const section = config.mode === 'ipvs' ? 'ipvs' : config.mode === 'nftables' ? 'nftables' : 'iptables';
  const sync = config[section];
  if (sync.syncPeriod <= 0) bad(`${section}.syncPeriod`, `must be greater than 0, got ${d(sync.syncPeriod)}`);
  if (sync.minSyncPeriod < 0) {
    bad(`${section}.minSyncPeriod`, `must be greater than or equal to 0, got ${d(sync.minSyncPeriod)}`);
  } else if (sync.syncPeriod > 0 && sync.minSyncPeriod > sync.syncPeriod) {
    bad(
      `${section}.syncPeriod`,
      `must be greater than or equal to ${section}.minSyncPeriod (${d(sync.minSyncPeriod)}), got ${d(sync.syncPeriod)}`,
    );
  }
  for (const s of ['iptables', 'nftables'] as const) {
    const bit = config[s].masqueradeBit;
    if (bit !== null && (bit < 0 || bit > 31))
      bad(`${s}.masqueradeBit`, `must be within [0, 31], got ${bit}`);
  }
  if (config.mode === 'ipvs') {
    if (config.ipvs.scheduler !== '' && !IPVS_SCHEDULERS.includes(config.ipvs.scheduler)) {
      bad(
        'ipvs.scheduler',
        `must be one of ${IPVS_SCHEDULERS.join(', ')} or empty (rr), got ${JSON.stringify(config.ipvs.scheduler)}`,
      );
    }
    (config.ipvs.excludeCIDRs ?? []).forEach((cidr, i) => {
      if (!isCidr(cidr)) bad(`ipvs.excludeCIDRs[${i}]`, `must be a valid CIDR, got ${JSON.stringify(cidr)}`);
    });
    for (const key of ['tcpTimeout', 'tcpFinTimeout', 'udpTimeout'] as const) {
      const v = config.ipvs[key];
      if (v < 0) bad(`ipvs.${key}`, `must be greater than or equal to 0, got ${d(v)}`);
    }
  }
  const ct = config.conntrack;
  for (const key of ['maxPerCore', 'min'] as const) {
    const v = ct[key];
    if (v !== null && v < 0) bad(`conntrack.${key}`, `must be greater than or equal to 0, got ${v}`);
  }
  for (const key of [
    'tcpEstablishedTimeout',
    'tcpCloseWaitTimeout',
    'udpTimeout',
    'udpStreamTimeout',
  ] as const) {
    const v = ct[key];
    if (v !== null && v < 0) bad(`conntrack.${key}`, `must be greater than or equal to 0, got ${d(v)}`);
  }
  if (config.clientConnection.burst < 0) {
    bad('clientConnection.burst', `must be greater than or equal to 0, got ${config.clientConnection.burst}`);
  }
  if (config.oomScoreAdj !== null && (config.oomScoreAdj < -1000 || config.oomScoreAdj > 1000)) {
    bad('oomScoreAdj', `must be within [-1000, 1000], got ${config.oomScoreAdj}`);
  }
  if (config.configSyncPeriod <= 0) {
    bad('configSyncPeriod', `must be greater than 0, got ${d(config.configSyncPeriod)}`);
  }
  if (config.udpIdleTimeout <= 0)
    bad('udpIdleTimeout', `must be greater than 0, got ${d(config.udpIdleTimeout)}`);
  if (isIP(config.bindAddress) === 0) {
    bad('bindAddress', `must be an IP address, got ${JSON.stringify(config.bindAddress)}`);
  }
  for (const key of ['healthzBindAddress', 'metricsBindAddress'] as const) {
    const problem = config[key] === '' ? undefined : hostPortProblem(config[key]);
    if (problem !== undefined) bad(key, problem);
  }
  if (config.clusterCIDR !== '') {
    const cidrs = config.clusterCIDR.split(',');
    const families = cidrs.map((c) => (isCidr(c) ? isIP(c.split('/')[0] ?? '') : 0));
    if (families.includes(0) || cidrs.length > 2 || (cidrs.length === 2 && families[0] === families[1])) {
      bad(
        'clusterCIDR',
        `must be a CIDR or a dual-stack pair (e.g. 10.244.0.0/16,fd00:10:244::/56), got ${JSON.stringify(config.clusterCIDR)}`,
      );
    }
  }
  const range = portRangeProblem(config.portRange);
  if (range !== undefined) bad('portRange', range);
  const addresses = config.nodePortAddresses ?? [];
  addresses.forEach((a, i) => {
    if (a === 'primary') {
      if (addresses.length !== 1) bad(`nodePortAddresses[${i}]`, `can't use both "primary" and CIDRs`);
    } else if (!isCidr(a)) {
      bad(`nodePortAddresses[${i}]`, `must be a valid CIDR or "primary", got ${JSON.stringify(a)}`);
    }
  });
  if (!LOCAL_MODES.includes(config.detectLocalMode)) {
    bad(
      'detectLocalMode',
      `must be one of ${LOCAL_MODES.join(', ')} or empty (ClusterCIDR), got ${JSON.stringify(config.detectLocalMode)}`,
    );
  } else if (config.detectLocalMode === 'BridgeInterface' && config.detectLocal.bridgeInterface === '') {
    bad('detectLocal.bridgeInterface', 'must be set when detectLocalMode is BridgeInterface');
  } else if (
    config.detectLocalMode === 'InterfaceNamePrefix' &&
    config.detectLocal.interfaceNamePrefix === ''
  ) {
    bad('detectLocal.interfaceNamePrefix', 'must be set when detectLocalMode is InterfaceNamePrefix');
  }
  // Checked whatever the mode, as a name that reaches a rule must be one Linux (and the rule) accepts.
  const bridge = config.detectLocal.bridgeInterface;
  const bridgeProblem = bridge === '' ? undefined : interfaceNameProblem(bridge);
  if (bridgeProblem !== undefined)
    bad('detectLocal.bridgeInterface', `${bridgeProblem}, got ${JSON.stringify(bridge)}`);
  const prefix = config.detectLocal.interfaceNamePrefix;
  const prefixProblem = prefix === '' ? undefined : interfaceNamePrefixProblem(prefix);
  if (prefixProblem !== undefined)
    bad('detectLocal.interfaceNamePrefix', `${prefixProblem}, got ${JSON.stringify(prefix)}`);
  if (config.logging.format !== 'text' && config.logging.format !== 'json') {
    bad('logging.format', `must be text or json, got ${JSON.stringify(config.logging.format)}`);
  }
  if (config.logging.verbosity < 0)
    bad('logging.verbosity', `must be greater than or equal to 0, got ${config.logging.verbosity}`);
  const hidden = config.showHiddenMetricsForVersion;
  if (hidden !== '' && !/^\d+\.\d+$/.test(hidden)) {
    bad('showHiddenMetricsForVersion', `must be MAJOR.MINOR (e.g. 1.31), got ${JSON.stringify(hidden)}`);
  }
  return problems;
}
