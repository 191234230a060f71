/**
 * `KubeProxyConfiguration` (`kubeproxy.config.k8s.io/v1alpha1`), kube-proxy's configuration file, as
 * kproxy holds it after parsing: the same field names and nesting as upstream's v1alpha1 type, durations
 * in milliseconds, and `null` where upstream has a pointer or a nil slice/map that is unset (defaulting
 * fills most of them, as upstream's `SetDefaults_KubeProxyConfiguration`).
 *
 * @module
 */

/** A duration in milliseconds (written as Go's `time.Duration` string, e.g. `30s`, `1h0m0s`). */
export type DurationMs = number;

/** `apiVersion` of the only version kproxy reads. */
export const KUBE_PROXY_CONFIG_API_VERSION = 'kubeproxy.config.k8s.io/v1alpha1';
/** `kind` of the configuration object. */
export const KUBE_PROXY_CONFIG_KIND = 'KubeProxyConfiguration';
/** The API group, the key of `/configz`'s one entry (as upstream). */
export const KUBE_PROXY_CONFIG_GROUP = 'kubeproxy.config.k8s.io';

/** `clientConnection` (component-base's ClientConnectionConfiguration). */
export interface ClientConnectionConfiguration {
  kubeconfig: string;
  acceptContentTypes: string;
  contentType: string;
  qps: number;
  burst: number;
}

/** `logging.options.json` / `logging.options.text`. */
export interface LogFormatOptions {
  splitStream: boolean;
  infoBufferSize: string;
}

/** `logging` (component-base's LoggingConfiguration). */
export interface LoggingConfiguration {
  format: string;
  flushFrequency: DurationMs;
  verbosity: number;
  vmodule: unknown[] | null;
  options: { json: LogFormatOptions; text: LogFormatOptions };
}

/** `iptables`. */
export interface IPTablesConfiguration {
  masqueradeBit: number | null;
  masqueradeAll: boolean;
  localhostNodePorts: boolean | null;
  snatNodeInternalIP: boolean | null;
  syncPeriod: DurationMs;
  minSyncPeriod: DurationMs;
}

/** `ipvs`. */
export interface IPVSConfiguration {
  syncPeriod: DurationMs;
  minSyncPeriod: DurationMs;
  scheduler: string;
  excludeCIDRs: string[] | null;
  strictARP: boolean;
  tcpTimeout: DurationMs;
  tcpFinTimeout: DurationMs;
  udpTimeout: DurationMs;
}

/** `nftables`. */
export interface NFTablesConfiguration {
  masqueradeBit: number | null;
  masqueradeAll: boolean;
  syncPeriod: DurationMs;
  minSyncPeriod: DurationMs;
}

/** `conntrack`. */
export interface ConntrackConfiguration {
  maxPerCore: number | null;
  min: number | null;
  tcpEstablishedTimeout: DurationMs | null;
  tcpCloseWaitTimeout: DurationMs | null;
  tcpBeLiberal: boolean;
  udpTimeout: DurationMs;
  udpStreamTimeout: DurationMs;
}

/** `winkernel` (Windows only; accepted and ignored). */
export interface WinkernelConfiguration {
  networkName: string;
  sourceVip: string;
  enableDSR: boolean;
  rootHnsEndpointName: string;
  forwardHealthCheckVip: boolean;
}

/** `detectLocal`. */
export interface DetectLocalConfiguration {
  bridgeInterface: string;
  interfaceNamePrefix: string;
}

/** The whole configuration, every v1alpha1 field (kproxy keeps the two userspace fields too). */
export interface KubeProxyConfiguration {
  apiVersion: string;
  kind: string;
  featureGates: Record<string, boolean> | null;
  clientConnection: ClientConnectionConfiguration;
  logging: LoggingConfiguration;
  hostnameOverride: string;
  bindAddress: string;
  healthzBindAddress: string;
  metricsBindAddress: string;
  bindAddressHardFail: boolean;
  enableProfiling: boolean;
  showHiddenMetricsForVersion: string;
  mode: string;
  iptables: IPTablesConfiguration;
  ipvs: IPVSConfiguration;
  nftables: NFTablesConfiguration;
  winkernel: WinkernelConfiguration;
  detectLocalMode: string;
  detectLocal: DetectLocalConfiguration;
  clusterCIDR: string;
  nodePortAddresses: string[] | null;
  oomScoreAdj: number | null;
  conntrack: ConntrackConfiguration;
  configSyncPeriod: DurationMs;
  /** userspace: the local ports of proxy listeners, `FROM-TO` or `BASE+SIZE` (upstream: unused since 1.26). */
  portRange: string;
  /** userspace: how long an idle UDP flow is kept (upstream removed the field with its userspace mode). */
  udpIdleTimeout: DurationMs;
  windowsRunAsService: boolean;
}
