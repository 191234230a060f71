/**
 * Where each setting of `kproxy run` comes from, with kube-proxy's precedence (cmd/kube-proxy/app
 * options.go, `Complete`): without `--config`, the flags build the configuration; with `--config`, the file
 * replaces every setting a flag could give, except `--hostname-override` and the logging flags, which still
 * win when given. kube-proxy's flags that kproxy accepts without acting on them (`ignored_flags.ts`) set
 * their fields when there is no file, and warn either way. Flags that only kproxy has (`--manifests`, `--node-ip`, `--iptables-backend`,
 * `--userspace-*`, `--log-level`, `--master`) have no field and always apply. kube-proxy ignores the
 * overridden flags silently; kproxy says so, once per flag.
 *
 * @module
 */
import { parseDuration } from '../duration.ts';
import { ignoredFlagWarnings } from '../ignored_flags.ts';
import type { RunFlags } from '../run_flags.ts';
import { applyPlatformDefaults, setDefaults, zeroConfiguration } from './defaults.ts';
import { formatGoDuration } from './go_duration.ts';
import type { LoadedConfiguration } from './load.ts';
import type { KubeProxyConfiguration } from './types.ts';

/** Flags of `run` that a configuration file sets, and the field that does (the file wins over them). */
export const FLAG_FIELDS: Readonly<Partial<Record<keyof RunFlags, string>>> = {
  proxyMode: 'mode',
  bindAddress: 'bindAddress',
  clusterCidr: 'clusterCIDR',
  detectLocalMode: 'detectLocalMode',
  podBridgeInterface: 'detectLocal.bridgeInterface',
  podInterfaceNamePrefix: 'detectLocal.interfaceNamePrefix',
  masqueradeAll: 'iptables.masqueradeAll',
  iptablesMasqueradeBit: 'iptables.masqueradeBit',
  ipvsScheduler: 'ipvs.scheduler',
  nodeportAddresses: 'nodePortAddresses',
  proxyPortRange: 'portRange',
  udpTimeout: 'udpIdleTimeout',
  udpIdleTimeout: 'udpIdleTimeout',
  iptablesSyncPeriod: 'iptables.syncPeriod',
  iptablesMinSyncPeriod: 'iptables.minSyncPeriod',
  ipvsSyncPeriod: 'ipvs.syncPeriod',
  ipvsMinSyncPeriod: 'ipvs.minSyncPeriod',
  healthzBindAddress: 'healthzBindAddress',
  metricsBindAddress: 'metricsBindAddress',
  kubeconfig: 'clientConnection.kubeconfig',
};

/** The settings `run` uses: flags in which the file's values replaced the overridden ones. */
export interface ResolvedRun {
  readonly flags: RunFlags;
  /** The effective configuration (what `/configz` serves and `--write-config-to` writes). */
  readonly config: KubeProxyConfiguration;
  readonly warnings: readonly string[];
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function syncSection(config: KubeProxyConfiguration) {
  return config.mode === 'ipvs'
    ? config.ipvs
    : config.mode === 'nftables'
      ? config.nftables
      : config.iptables;
}

/** `BASE+SIZE` (upstream's other spelling of a port range) as kproxy's `FROM-TO`. */
function portRangeFlag(range: string): string {
  const m = /^(\d+)\+(\d+)$/.exec(range.trim());
  return m === null ? range : `${m[1]}-${Number(m[1]) + Number(m[2]) - 1}`;
}

/**
 * The configuration the flags describe (no file): upstream's defaults, then every flag's value. The
 * nftables mode keeps kproxy's command-line meaning of an empty `--nodeport-addresses` (every address).
 *
 * @param flags parsed flags of `run` (commander's defaults included)
 * @returns the configuration
 * @example configFromFlags(flags).mode // 'iptables'
 */
export function configFromFlags(flags: RunFlags): KubeProxyConfiguration {
  const c = setDefaults(zeroConfiguration());
  c.mode = flags.proxyMode;
  c.hostnameOverride = flags.hostnameOverride ?? '';
  c.bindAddress = flags.bindAddress ?? '0.0.0.0';
  c.healthzBindAddress = flags.healthzBindAddress;
  c.metricsBindAddress = flags.metricsBindAddress;
  c.clusterCIDR = flags.clusterCidr ?? '';
  c.detectLocalMode = flags.detectLocalMode ?? '';
  c.detectLocal = {
    bridgeInterface: flags.podBridgeInterface ?? '',
    interfaceNamePrefix: flags.podInterfaceNamePrefix ?? '',
  };
  const bit = Number(flags.iptablesMasqueradeBit);
  const masqueradeAll = flags.masqueradeAll ?? false;
  const sync = parseDuration(flags.iptablesSyncPeriod);
  const minSync = parseDuration(flags.iptablesMinSyncPeriod);
  c.iptables = { ...c.iptables, masqueradeAll, masqueradeBit: bit, syncPeriod: sync, minSyncPeriod: minSync };
  c.nftables = { ...c.nftables, masqueradeAll, masqueradeBit: bit, syncPeriod: sync, minSyncPeriod: minSync };
  c.ipvs.scheduler = flags.ipvsScheduler;
  c.ipvs.syncPeriod = parseDuration(flags.ipvsSyncPeriod);
  c.ipvs.minSyncPeriod = parseDuration(flags.ipvsMinSyncPeriod);
  const addresses = (flags.nodeportAddresses ?? '').split(',').filter(Boolean);
  c.nodePortAddresses = addresses.length === 0 ? null : addresses;
  c.portRange = flags.proxyPortRange ?? '';
  const udp = flags.udpTimeout ?? flags.udpIdleTimeout;
  c.udpIdleTimeout = udp === undefined ? 250 : parseDuration(udp);
  c.clientConnection.kubeconfig = flags.kubeconfig ?? '';
  c.logging.format = flags.logFormat;
  return applyPlatformDefaults(c, { primaryNodePortsForNftables: false });
}

/**
 * The flags `run` works with when a configuration file is given: the file's values in place of the flags
 * it overrides; `--hostname-override` and `--log-format` stay when given.
 *
 * @param config the file's effective configuration
 * @param flags parsed flags
 * @param given whether a flag was on the command line (not a default)
 * @returns flags for the rest of `run`
 * @example flagsFromConfig(config, flags, (k) => false).proxyMode // config.mode
 */
export function flagsFromConfig(
  config: KubeProxyConfiguration,
  flags: RunFlags,
  given: (key: keyof RunFlags) => boolean,
): RunFlags {
  const sync = syncSection(config);
  const masq = config.mode === 'nftables' ? config.nftables : config.iptables;
  const out: Record<string, unknown> = { ...flags };
  for (const key of Object.keys(FLAG_FIELDS)) delete out[key];
  Object.assign(out, {
    proxyMode: config.mode,
    bindAddress: config.bindAddress,
    masqueradeAll: masq.masqueradeAll,
    iptablesMasqueradeBit: String(masq.masqueradeBit ?? 14),
    ipvsScheduler: config.ipvs.scheduler === '' ? 'rr' : config.ipvs.scheduler,
    udpTimeout: formatGoDuration(config.udpIdleTimeout),
    iptablesSyncPeriod: formatGoDuration(sync.syncPeriod),
    iptablesMinSyncPeriod: formatGoDuration(sync.minSyncPeriod),
    ipvsSyncPeriod: formatGoDuration(config.ipvs.syncPeriod),
    ipvsMinSyncPeriod: formatGoDuration(config.ipvs.minSyncPeriod),
    healthzBindAddress: config.healthzBindAddress,
    metricsBindAddress: config.metricsBindAddress,
  });
  if (config.clusterCIDR !== '') out['clusterCidr'] = config.clusterCIDR;
  if (config.detectLocalMode !== '') out['detectLocalMode'] = config.detectLocalMode;
  if (config.detectLocal.bridgeInterface !== '')
    out['podBridgeInterface'] = config.detectLocal.bridgeInterface;
  if (config.detectLocal.interfaceNamePrefix !== '')
    out['podInterfaceNamePrefix'] = config.detectLocal.interfaceNamePrefix;
  if ((config.nodePortAddresses ?? []).length > 0)
    out['nodeportAddresses'] = config.nodePortAddresses?.join(',');
  if (config.portRange !== '') out['proxyPortRange'] = portRangeFlag(config.portRange);
  if (config.clientConnection.kubeconfig !== '') out['kubeconfig'] = config.clientConnection.kubeconfig;
  if (!given('hostnameOverride')) {
    if (config.hostnameOverride.trim() === '') delete out['hostnameOverride'];
    else out['hostnameOverride'] = config.hostnameOverride.trim().toLowerCase();
  }
  if (!given('logFormat')) out['logFormat'] = config.logging.format;
  return out as unknown as RunFlags;
}

/**
 * Resolves the settings of `run` from its flags and, when `--config` was given, the loaded file.
 *
 * @param flags parsed flags
 * @param given whether a flag was on the command line
 * @param file the loaded `--config` file, if any
 * @returns effective flags, the effective configuration and the warnings to log
 * @example const { flags: effective, config, warnings } = resolveRun(flags, given, await loadConfigurationFile(path))
 */
export function resolveRun(
  flags: RunFlags,
  given: (key: keyof RunFlags) => boolean,
  file?: LoadedConfiguration,
): ResolvedRun {
  const raw = flags as unknown as Record<string, unknown>;
  if (file === undefined) {
    const config = configFromFlags(flags);
    return { flags, config, warnings: ignoredFlagWarnings(raw, config) };
  }
  const config = structuredClone(file.config);
  const effective = flagsFromConfig(config, flags, given);
  if (given('hostnameOverride')) config.hostnameOverride = flags.hostnameOverride ?? '';
  if (given('logFormat')) config.logging.format = flags.logFormat;
  const warnings = [...file.warnings, ...ignoredFlagWarnings(raw, undefined)];
  for (const [key, field] of Object.entries(FLAG_FIELDS)) {
    if (given(key as keyof RunFlags)) {
      warnings.push(`--${kebab(key)} is ignored: --config is given, and its ${field} wins (as kube-proxy)`);
    }
  }
  return { flags: effective, config, warnings };
}
