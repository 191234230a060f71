/**
 * Upstream's defaults for `KubeProxyConfiguration` v1alpha1, in two steps as upstream applies them:
 * {@link setDefaults} is `SetDefaults_KubeProxyConfiguration` (a zero or `null` field takes its default),
 * {@link applyPlatformDefaults} is the Linux `platformApplyDefaults` of kube-proxy's server (the mode,
 * local-traffic detection, and NodePorts on the primary IPs in nftables mode).
 *
 * @module
 */
import { isIP } from 'node:net';
import { KUBE_PROXY_CONFIGURATION_FIELDS, zeroObject } from './schema.ts';
import {
  KUBE_PROXY_CONFIG_API_VERSION,
  KUBE_PROXY_CONFIG_KIND,
  type KubeProxyConfiguration,
} from './types.ts';

/** kube-proxy's health check port (`ports.ProxyHealthzPort`). */
export const PROXY_HEALTHZ_PORT = 10256;
/** kube-proxy's metrics port (`ports.ProxyStatusPort`). */
export const PROXY_STATUS_PORT = 10249;
/** The mode an empty `mode` means on Linux. */
export const DEFAULT_PROXY_MODE = 'iptables';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * Appends `:PORT` to a bare host (upstream's `AppendPortIfNeeded`): `0.0.0.0` → `0.0.0.0:10256`,
 * `::` → `[::]:10256`; an address with a port, or not an IP, is returned as it is.
 */
function appendPortIfNeeded(address: string, port: number): string {
  if (/^\[.*\]:\d+$/.test(address) || (isIP(address) === 0 && /:\d+$/.test(address))) return address;
  const family = isIP(address);
  if (family === 4) return `${address}:${port}`;
  if (family === 6) return `[${address}]:${port}`;
  return address;
}

/**
 * A configuration of Go zero values: what an empty file decodes to.
 *
 * @returns a fresh object
 * @example zeroConfiguration().iptables.masqueradeBit // null
 */
export function zeroConfiguration(): KubeProxyConfiguration {
  return {
    ...(zeroObject(KUBE_PROXY_CONFIGURATION_FIELDS) as unknown as KubeProxyConfiguration),
    apiVersion: KUBE_PROXY_CONFIG_API_VERSION,
    kind: KUBE_PROXY_CONFIG_KIND,
  };
}

/**
 * Fills unset fields with upstream's v1alpha1 defaults (`SetDefaults_KubeProxyConfiguration`).
 *
 * @param config a parsed configuration; modified in place
 * @returns the same object
 * @example setDefaults(zeroConfiguration()).iptables.syncPeriod // 30000
 */
export function setDefaults(config: KubeProxyConfiguration): KubeProxyConfiguration {
  const c = config;
  if (c.bindAddress === '') c.bindAddress = '0.0.0.0';
  const ipv4 = isIP(c.bindAddress) !== 6;
  c.healthzBindAddress =
    c.healthzBindAddress === ''
      ? `${ipv4 ? '0.0.0.0' : '[::]'}:${PROXY_HEALTHZ_PORT}`
      : appendPortIfNeeded(c.healthzBindAddress, PROXY_HEALTHZ_PORT);
  c.metricsBindAddress =
    c.metricsBindAddress === ''
      ? `${ipv4 ? '127.0.0.1' : '[::1]'}:${PROXY_STATUS_PORT}`
      : appendPortIfNeeded(c.metricsBindAddress, PROXY_STATUS_PORT);
  c.oomScoreAdj ??= -999;
  if (c.iptables.syncPeriod === 0) c.iptables.syncPeriod = 30 * SECOND;
  if (c.iptables.minSyncPeriod === 0) c.iptables.minSyncPeriod = SECOND;
  c.iptables.masqueradeBit ??= 14;
  c.iptables.localhostNodePorts ??= true;
  if (c.ipvs.syncPeriod === 0) c.ipvs.syncPeriod = 30 * SECOND;
  if (c.nftables.syncPeriod === 0) c.nftables.syncPeriod = 30 * SECOND;
  if (c.nftables.minSyncPeriod === 0) c.nftables.minSyncPeriod = SECOND;
  c.nftables.masqueradeBit ??= 14;
  c.conntrack.maxPerCore ??= 32 * 1024;
  c.conntrack.min ??= 128 * 1024;
  c.conntrack.tcpEstablishedTimeout ??= 24 * HOUR;
  c.conntrack.tcpCloseWaitTimeout ??= HOUR;
  if (c.configSyncPeriod === 0) c.configSyncPeriod = 15 * MINUTE;
  if (c.udpIdleTimeout === 0) c.udpIdleTimeout = 250;
  if (c.clientConnection.contentType === '')
    c.clientConnection.contentType = 'application/vnd.kubernetes.protobuf';
  if (c.clientConnection.qps === 0) c.clientConnection.qps = 5;
  if (c.clientConnection.burst === 0) c.clientConnection.burst = 10;
  c.featureGates ??= {};
  if (c.logging.format === '') c.logging.format = 'text';
  if (c.logging.flushFrequency === 0) c.logging.flushFrequency = 5 * SECOND;
  return c;
}

/**
 * Applies kube-proxy's Linux platform defaults: an empty `mode` is iptables, an empty `detectLocalMode`
 * is ClusterCIDR, and the nftables mode serves NodePorts on the node's primary IPs unless told otherwise.
 *
 * @param config a defaulted configuration; modified in place
 * @param options `primaryNodePortsForNftables: false` keeps an empty `nodePortAddresses` empty (kproxy's
 *   command line, where it has always meant every address)
 * @returns the same object
 * @example applyPlatformDefaults(setDefaults(zeroConfiguration())).mode // 'iptables'
 */
export function applyPlatformDefaults(
  config: KubeProxyConfiguration,
  options: { readonly primaryNodePortsForNftables?: boolean } = {},
): KubeProxyConfiguration {
  if (config.mode === '') config.mode = DEFAULT_PROXY_MODE;
  const primary = options.primaryNodePortsForNftables ?? true;
  if (primary && config.mode === 'nftables' && (config.nodePortAddresses ?? []).length === 0) {
    config.nodePortAddresses = ['primary'];
  }
  if (config.detectLocalMode === '') config.detectLocalMode = 'ClusterCIDR';
  return config;
}

/**
 * The configuration kube-proxy runs with when given nothing: zero values, defaults, platform defaults.
 *
 * @returns a fresh object
 * @example defaultConfiguration().metricsBindAddress // '127.0.0.1:10249'
 */
export function defaultConfiguration(): KubeProxyConfiguration {
  return applyPlatformDefaults(setDefaults(zeroConfiguration()));
}
