/**
 * The field table of `KubeProxyConfiguration` v1alpha1: for every field, the type it must have in the file
 * and whether kproxy acts on it. The parser walks the file with this table (so that an unknown field or a
 * wrong type names its path), and a field kproxy does not implement is accepted with one warning when the
 * file sets it to anything but its zero value.
 *
 * @module
 */

/** A leaf type, as upstream's Go type decodes it (`Ptr`: a pointer, `null` when unset). */
export type LeafType =
  | 'string'
  | 'bool'
  | 'boolPtr'
  | 'int32'
  | 'int32Ptr'
  | 'float'
  | 'duration'
  | 'durationPtr'
  /** component-base's TimeOrMetaDuration: a duration string, or an integer of nanoseconds. */
  | 'timeOrDuration'
  /** a resource.Quantity: a string or a number, kept as a string. */
  | 'quantity'
  | 'stringList'
  | 'boolMap'
  /** a list kproxy keeps as it is (logging.vmodule). */
  | 'list';

/** What kproxy does with a field. */
export type Support = 'supported' | 'ignored';

/** One field of the table. */
export interface FieldSpec {
  readonly type: LeafType | FieldTable;
  readonly support: Support;
}

/** The fields of one object. */
export interface FieldTable {
  readonly [name: string]: FieldSpec;
}

const yes = (type: LeafType | FieldTable): FieldSpec => ({ type, support: 'supported' });
const no = (type: LeafType | FieldTable): FieldSpec => ({ type, support: 'ignored' });

const formatOptions: FieldTable = { splitStream: no('bool'), infoBufferSize: no('quantity') };

/** Every field of `KubeProxyConfiguration` v1alpha1 (and the two userspace fields kproxy keeps). */
export const KUBE_PROXY_CONFIGURATION_FIELDS: FieldTable = {
  apiVersion: yes('string'),
  kind: yes('string'),
  featureGates: no('boolMap'),
  clientConnection: yes({
    kubeconfig: yes('string'),
    acceptContentTypes: no('string'),
    contentType: no('string'),
    qps: no('float'),
    burst: no('int32'),
  }),
  logging: yes({
    format: yes('string'),
    flushFrequency: no('timeOrDuration'),
    verbosity: no('int32'),
    vmodule: no('list'),
    options: yes({ json: yes(formatOptions), text: yes(formatOptions) }),
  }),
  hostnameOverride: yes('string'),
  bindAddress: yes('string'),
  healthzBindAddress: yes('string'),
  metricsBindAddress: yes('string'),
  bindAddressHardFail: no('bool'),
  enableProfiling: no('bool'),
  showHiddenMetricsForVersion: no('string'),
  mode: yes('string'),
  iptables: yes({
    masqueradeBit: yes('int32Ptr'),
    masqueradeAll: yes('bool'),
    localhostNodePorts: no('boolPtr'),
    snatNodeInternalIP: no('boolPtr'),
    syncPeriod: yes('duration'),
    minSyncPeriod: yes('duration'),
  }),
  ipvs: yes({
    syncPeriod: yes('duration'),
    minSyncPeriod: yes('duration'),
    scheduler: yes('string'),
    excludeCIDRs: yes('stringList'),
    strictARP: yes('bool'),
    tcpTimeout: yes('duration'),
    tcpFinTimeout: yes('duration'),
    udpTimeout: yes('duration'),
  }),
  nftables: yes({
    masqueradeBit: yes('int32Ptr'),
    masqueradeAll: yes('bool'),
    syncPeriod: yes('duration'),
    minSyncPeriod: yes('duration'),
  }),
  winkernel: no({
    networkName: no('string'),
    sourceVip: no('string'),
    enableDSR: no('bool'),
    rootHnsEndpointName: no('string'),
    forwardHealthCheckVip: no('bool'),
  }),
  detectLocalMode: yes('string'),
  detectLocal: yes({ bridgeInterface: yes('string'), interfaceNamePrefix: yes('string') }),
  clusterCIDR: yes('string'),
  nodePortAddresses: yes('stringList'),
  oomScoreAdj: yes('int32Ptr'),
  conntrack: yes({
    maxPerCore: yes('int32Ptr'),
    min: yes('int32Ptr'),
    tcpEstablishedTimeout: yes('durationPtr'),
    tcpCloseWaitTimeout: yes('durationPtr'),
    tcpBeLiberal: yes('bool'),
    udpTimeout: yes('duration'),
    udpStreamTimeout: yes('duration'),
  }),
  configSyncPeriod: no('duration'),
  portRange: yes('string'),
  udpIdleTimeout: yes('duration'),
  windowsRunAsService: no('bool'),
};

/**
 * The Go zero value of a leaf (what an absent or `null` field decodes to).
 *
 * @param type a leaf type
 * @returns the zero value
 * @example zeroOf('int32Ptr') // null
 */
export function zeroOf(type: LeafType): unknown {
  switch (type) {
    case 'string':
      return '';
    case 'bool':
      return false;
    case 'int32':
    case 'float':
    case 'duration':
    case 'timeOrDuration':
      return 0;
    case 'quantity':
      return '0';
    case 'boolPtr':
    case 'int32Ptr':
    case 'durationPtr':
    case 'stringList':
    case 'boolMap':
    case 'list':
      return null;
    default: {
      const never: never = type;
      throw new Error(`Unknown field type: ${String(never)}`);
    }
  }
}

/**
 * An object of zero values for a table (every nested object present, as Go's structs are).
 *
 * @param table a field table
 * @returns a fresh object
 * @example zeroObject(KUBE_PROXY_CONFIGURATION_FIELDS).iptables // { masqueradeBit: null, ... }
 */
export function zeroObject(table: FieldTable): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) {
    out[name] = typeof spec.type === 'string' ? zeroOf(spec.type) : zeroObject(spec.type);
  }
  return out;
}
