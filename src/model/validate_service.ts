/**
 * Validates a core/v1 Service (the JSON shape of `V1Service`, as YAML manifests and informers give it) and
 * reduces it to a {@link ServiceSpec}, applying the API server's defaults and kube-proxy's reading of it
 * (upstream `pkg/proxy/serviceport.go`, `pkg/api/v1/service/util.go`, `pkg/apis/core/validation`).
 *
 * @module
 */
import type {
  V1ClientIPConfig,
  V1LoadBalancerIngress,
  V1LoadBalancerStatus,
  V1Service,
  V1ServicePort,
  V1ServiceSpec,
  V1ServiceStatus,
  V1SessionAffinityConfig,
} from '@kubernetes/client-node';
import {
  type CanonicalIP,
  canonicalCidr,
  compareIPs,
  describe,
  type FieldReader,
  isAbsent,
  isDns1123Label,
  isIanaSvcName,
  readObjectMeta,
  sortedUniqueIPs,
  type Untrusted,
} from './_field_checks.ts';
import type {
  IPFamily,
  ServicePortSpec,
  ServiceSpec,
  ServiceType,
  SessionAffinity,
  TrafficDistribution,
  TrafficPolicy,
} from './types.ts';
import type { Validated } from './validated.ts';

export type { Validated } from './validated.ts';

/** The ClientIP affinity timeout when `sessionAffinityConfig` does not give one (3 hours, as upstream). */
export const DEFAULT_CLIENT_IP_TIMEOUT_SECONDS = 10800;

/** The skip reason of a service without a cluster IP (in a manifest, usually one the API server would allocate). */
export const NO_CLUSTER_IP_REASON = 'no clusterIP: not proxied';

/** The values of `spec.trafficDistribution` (PreferSameZone and PreferSameNode since Kubernetes 1.33). */
export const TRAFFIC_DISTRIBUTIONS: readonly TrafficDistribution[] = [
  'PreferClose',
  'PreferSameZone',
  'PreferSameNode',
];

/** Dropped from {@link ServiceSpec.annotations}: large, and it changes on every `kubectl apply`. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

type Spec = Untrusted<V1ServiceSpec>;

/**
 * Validates a Service.
 *
 * Skipped (not an error): `type: ExternalName`, a `clusterIP` that is `None` or empty (headless, or not
 * allocated), and services labelled `service.kubernetes.io/service-proxy-name` or
 * `service.kubernetes.io/headless` (upstream's informers filter those out).
 *
 * Defaults as the API server's: type ClusterIP, protocol TCP, targetPort = port, sessionAffinity None
 * (ClientIP timeout 10800 s), both traffic policies Cluster. As upstream kube-proxy reads them:
 * externalTrafficPolicy Local only for a service reachable from outside (NodePort, LoadBalancer, or with
 * externalIPs), healthCheckNodePort only for a LoadBalancer with Local, ingress IPs without `ipMode: Proxy`.
 * Address lists whose order means nothing are sorted; clusterIPs and ports keep their order.
 *
 * A bad `spec.trafficDistribution` is a problem, but the service is kept without it (`problems` beside
 * the value): the field only asks the EndpointSlice controller for hints, and a proxy serves the service
 * whatever it says.
 *
 * @param obj the untrusted object, shaped like `V1Service`
 * @param file where it came from, for problems (undefined for the API server)
 * @returns the validated spec, a skip reason, or every problem found
 * @example
 * validateService({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' },
 *   spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }] } }, 'web.yaml')
 * // { ok: true, value: { namespace: 'default', name: 'web', type: 'ClusterIP', ... } }
 */
export function validateService(obj: unknown, file: string | undefined): Validated<ServiceSpec> {
  const meta = readObjectMeta(obj, 'Service', file, isDns1123Label, 'DNS-1123 label');
  if (!('reader' in meta)) return { ok: false, problems: meta.problems };
  const { reader } = meta;
  if (meta.skipReason !== undefined && reader.problems.length === 0)
    return { ok: 'skipped', reason: meta.skipReason };
  const root = obj as Untrusted<V1Service>;
  const spec: Spec = reader.record<V1ServiceSpec>(root.spec, 'spec') ?? {};

  const type = isAbsent(spec.type)
    ? 'ClusterIP'
    : reader.oneOf(spec.type, 'spec.type', [
        'ClusterIP',
        'NodePort',
        'LoadBalancer',
        'ExternalName',
      ] as const);
  const clusterIPs = readClusterIPs(reader, spec);
  if (type === 'ExternalName' || clusterIPs === 'None' || clusterIPs === 'unset') {
    if (reader.problems.length > 0) return { ok: false, problems: reader.problems };
    const reason =
      type === 'ExternalName'
        ? 'type ExternalName: resolved by DNS, not proxied'
        : clusterIPs === 'None'
          ? 'headless (clusterIP None): not proxied'
          : NO_CLUSTER_IP_REASON;
    return { ok: 'skipped', reason };
  }
  const ports = readPorts(reader, spec, type);
  const externalIPs = readIPList(reader, spec.externalIPs, 'spec.externalIPs');
  const loadBalancerIPs = readLoadBalancerIngress(reader, root.status);
  const loadBalancerSourceRanges = readSourceRanges(reader, spec);
  const sessionAffinity = readSessionAffinity(reader, spec);
  const externalPolicy = readTrafficPolicy(reader, spec.externalTrafficPolicy, 'spec.externalTrafficPolicy');
  const internalTrafficPolicy = readTrafficPolicy(
    reader,
    spec.internalTrafficPolicy,
    'spec.internalTrafficPolicy',
  );
  const healthCheckNodePort = reader.optionalPort(spec.healthCheckNodePort, 'spec.healthCheckNodePort');
  // Read last, and its problems set apart: they drop the field, not the service.
  const before = reader.problems.length;
  const trafficDistribution = isAbsent(spec.trafficDistribution)
    ? undefined
    : reader.oneOf(spec.trafficDistribution, 'spec.trafficDistribution', TRAFFIC_DISTRIBUTIONS);
  const dropped = reader.problems.splice(before);
  if (
    type === undefined ||
    clusterIPs === undefined ||
    ports === undefined ||
    sessionAffinity === undefined ||
    externalPolicy === undefined ||
    internalTrafficPolicy === undefined ||
    healthCheckNodePort === undefined ||
    reader.problems.length > 0
  ) {
    return { ok: false, problems: [...reader.problems, ...dropped] };
  }
  // As upstream ExternalPolicyLocal: Local only matters for a service that is reachable from outside.
  const externallyAccessible = type !== 'ClusterIP' || externalIPs.length > 0;
  const externalTrafficPolicy: TrafficPolicy = externallyAccessible ? externalPolicy : 'Cluster';
  const annotations = { ...meta.annotations };
  delete annotations[LAST_APPLIED];
  return {
    ok: true,
    value: {
      namespace: meta.namespace,
      name: meta.name,
      type,
      clusterIPs: clusterIPs.map((ip) => ip.ip),
      ipFamilies: clusterIPs.map((ip) => ip.family),
      ports,
      externalIPs,
      loadBalancerIPs,
      loadBalancerSourceRanges,
      sessionAffinity,
      externalTrafficPolicy,
      internalTrafficPolicy,
      // As upstream NeedsHealthCheck: only a LoadBalancer with externalTrafficPolicy Local has one.
      healthCheckNodePort:
        type === 'LoadBalancer' && externalTrafficPolicy === 'Local' ? healthCheckNodePort : 0,
      annotations,
      trafficDistribution,
    },
    ...(dropped.length > 0 ? { problems: dropped } : {}),
  };
}

/** A traffic policy; unset (or "") is Cluster, the API default. */
function readTrafficPolicy(reader: FieldReader, v: unknown, field: string): TrafficPolicy | undefined {
  if (isAbsent(v) || v === '') return 'Cluster';
  if (v === 'Global') {
    // The value of the removed beta annotation service.beta.kubernetes.io/external-traffic, never of a field.
    reader.field(field, 'must be Cluster or Local, got "Global" (a value of the removed beta annotation)');
    return undefined;
  }
  return reader.oneOf(v, field, ['Cluster', 'Local'] as const);
}

/**
 * `spec.clusterIPs` (or `[spec.clusterIP]`) checked against each other and against `spec.ipFamilies`;
 * `'None'`/`'unset'` for services that are not proxied, undefined when bad.
 */
function readClusterIPs(
  reader: FieldReader,
  spec: Spec,
): readonly CanonicalIP[] | 'None' | 'unset' | undefined {
  const clusterIP = reader.string(spec.clusterIP, 'spec.clusterIP');
  const list = reader.list(spec.clusterIPs, 'spec.clusterIPs');
  const texts = list?.length ? list : clusterIP === undefined || clusterIP === '' ? [] : [clusterIP];
  const field = list?.length ? (i: number) => `spec.clusterIPs[${i}]` : () => 'spec.clusterIP';
  const primary = texts[0];
  if (primary === 'None') return 'None';
  if (primary === undefined || primary === '') return 'unset';
  if (list?.length && clusterIP !== undefined && clusterIP !== '' && primary !== clusterIP) {
    reader.field(
      'spec.clusterIPs[0]',
      `must equal spec.clusterIP ${describe(clusterIP)}, got ${describe(primary)}`,
    );
  }
  if (texts.length > 2) reader.field('spec.clusterIPs', `must hold at most 2 addresses, got ${texts.length}`);
  const ips = texts.map((text, i) => reader.ip(text, field(i)));
  const [first, second] = ips;
  if (first !== undefined && second !== undefined && first.family === second.family) {
    reader.field(
      'spec.clusterIPs[1]',
      `must be of the other IP family than spec.clusterIPs[0], got ${second.family}`,
    );
  }
  const families = reader.list(spec.ipFamilies, 'spec.ipFamilies');
  if (families !== undefined && families.length > 0) {
    if (families.length !== texts.length) {
      reader.field(
        'spec.ipFamilies',
        `must match the ${texts.length} cluster IP(s), got ${families.length} families`,
      );
    }
    families.forEach((family, i) => {
      const checked = reader.oneOf<IPFamily>(family, `spec.ipFamilies[${i}]`, ['IPv4', 'IPv6']);
      const ip = ips[i];
      if (checked !== undefined && ip !== undefined && checked !== ip.family) {
        reader.field(`spec.ipFamilies[${i}]`, `${checked} does not match ${field(i)} ${describe(ip.ip)}`);
      }
    });
  }
  return ips.every((ip) => ip !== undefined) ? ips : undefined;
}

function readPorts(
  reader: FieldReader,
  spec: Spec,
  type: ServiceType | undefined,
): readonly ServicePortSpec[] | undefined {
  const list = reader.list(spec.ports, 'spec.ports');
  if (list === undefined || list.length === 0) {
    reader.field('spec.ports', 'required: a proxied service needs at least one port');
    return undefined;
  }
  const ports: ServicePortSpec[] = [];
  const names = new Map<string, number>();
  const portProtocols = new Map<string, number>();
  const nodePorts = new Map<string, number>();
  list.forEach((item, i) => {
    const at = `spec.ports[${i}]`;
    const port = reader.record<V1ServicePort>(item, at);
    if (port === undefined) {
      if (isAbsent(item)) reader.field(at, 'required');
      return;
    }
    const name = reader.string(port.name, `${at}.name`) ?? '';
    if (name === '' && list.length > 1)
      reader.field(`${at}.name`, 'required when the service has more than one port');
    if (name !== '' && !isDns1123Label(name))
      reader.field(`${at}.name`, `not a DNS-1123 label: ${describe(name)}`);
    const previousName = names.get(name);
    if (name !== '' && previousName !== undefined) {
      reader.field(`${at}.name`, `duplicate name ${describe(name)} (also spec.ports[${previousName}])`);
    }
    names.set(name, names.get(name) ?? i);
    const protocol = reader.protocol(port.protocol, `${at}.protocol`);
    if (isAbsent(port.port)) reader.field(`${at}.port`, 'required');
    const number = reader.integer(port.port, `${at}.port`, 1, 65535);
    if (number !== undefined && protocol !== undefined) {
      const key = `${number}/${protocol}`;
      const previous = portProtocols.get(key);
      if (previous !== undefined) reader.field(at, `duplicate port ${key} (also spec.ports[${previous}])`);
      else portProtocols.set(key, i);
    }
    const targetPort = readTargetPort(reader, port.targetPort, `${at}.targetPort`, number);
    const nodePort = reader.optionalPort(port.nodePort, `${at}.nodePort`);
    if (nodePort !== undefined && nodePort !== 0 && type === 'ClusterIP') {
      reader.field(`${at}.nodePort`, 'may not be set when spec.type is ClusterIP');
    }
    if (nodePort !== undefined && nodePort !== 0 && protocol !== undefined) {
      const key = `${nodePort}/${protocol}`;
      const previous = nodePorts.get(key);
      if (previous !== undefined)
        reader.field(`${at}.nodePort`, `duplicate node port ${key} (also spec.ports[${previous}])`);
      else nodePorts.set(key, i);
    }
    if (
      protocol !== undefined &&
      number !== undefined &&
      targetPort !== undefined &&
      nodePort !== undefined
    ) {
      ports.push({ name, protocol, port: number, targetPort, nodePort });
    }
  });
  return ports.length === list.length ? ports : undefined;
}

/** A target port: a number, or an IANA_SVC_NAME; unset (or 0, or "") means "same as port", as the API defaults. */
function readTargetPort(
  reader: FieldReader,
  v: unknown,
  field: string,
  port: number | undefined,
): number | string | undefined {
  if (isAbsent(v) || v === 0 || v === '') return port;
  if (typeof v === 'number') return reader.integer(v, field, 1, 65535);
  if (typeof v !== 'string') {
    reader.field(field, `must be a port number or name, got ${describe(v)}`);
    return undefined;
  }
  if (isIanaSvcName(v)) return v;
  const hint = /^[0-9]+$/.test(v) ? ' (a quoted number is a port name; write it unquoted)' : '';
  reader.field(field, `not a port name (IANA_SVC_NAME): ${describe(v)}${hint}`);
  return undefined;
}

function readIPList(reader: FieldReader, v: unknown, field: string): string[] {
  const list = reader.list(v, field) ?? [];
  const ips = list.flatMap((item, i) => reader.ip(item, `${field}[${i}]`)?.ip ?? []);
  return sortedUniqueIPs(ips);
}

/** `status.loadBalancer.ingress[].ip`, without hostname-only entries and `ipMode: Proxy` ones (as upstream). */
function readLoadBalancerIngress(reader: FieldReader, status: unknown): string[] {
  const lbStatus = reader.record<V1ServiceStatus>(status, 'status')?.loadBalancer;
  const loadBalancer = reader.record<V1LoadBalancerStatus>(lbStatus, 'status.loadBalancer');
  const ingress = reader.list(loadBalancer?.ingress, 'status.loadBalancer.ingress') ?? [];
  const ips = ingress.flatMap((item, i) => {
    const at = `status.loadBalancer.ingress[${i}]`;
    const entry = reader.record<V1LoadBalancerIngress>(item, at);
    if (entry === undefined || isAbsent(entry.ip) || entry.ip === '') return [];
    const ipMode = isAbsent(entry.ipMode)
      ? 'VIP'
      : reader.oneOf(entry.ipMode, `${at}.ipMode`, ['VIP', 'Proxy']);
    const ip = reader.ip(entry.ip, `${at}.ip`);
    return ip === undefined || ipMode !== 'VIP' ? [] : [ip.ip];
  });
  return sortedUniqueIPs(ips);
}

function readSourceRanges(reader: FieldReader, spec: Spec): string[] {
  const list = reader.list(spec.loadBalancerSourceRanges, 'spec.loadBalancerSourceRanges') ?? [];
  const cidrs = list.flatMap((item, i) => {
    const at = `spec.loadBalancerSourceRanges[${i}]`;
    const text = reader.string(item, at);
    if (text === undefined) return [];
    const cidr = canonicalCidr(text);
    if (cidr === undefined) reader.field(at, `not a CIDR: ${describe(text)}`);
    return cidr ?? [];
  });
  const split = (cidr: string) => cidr.split('/') as [string, string];
  return [...new Set(cidrs)].sort((a, b) => {
    const [ipA, prefixA] = split(a);
    const [ipB, prefixB] = split(b);
    return compareIPs(ipA, ipB) || Number(prefixA) - Number(prefixB);
  });
}

function readSessionAffinity(reader: FieldReader, spec: Spec): SessionAffinity | undefined {
  const raw = spec.sessionAffinity;
  const type =
    isAbsent(raw) || raw === '' ? 'None' : reader.oneOf(raw, 'spec.sessionAffinity', ['None', 'ClientIP']);
  if (type !== 'ClientIP') return type === 'None' ? { type } : undefined;
  const config = reader.record<V1SessionAffinityConfig>(
    spec.sessionAffinityConfig,
    'spec.sessionAffinityConfig',
  );
  const clientIP = reader.record<V1ClientIPConfig>(config?.clientIP, 'spec.sessionAffinityConfig.clientIP');
  const timeout = clientIP?.timeoutSeconds;
  if (isAbsent(timeout)) return { type, timeoutSeconds: DEFAULT_CLIENT_IP_TIMEOUT_SECONDS };
  const timeoutSeconds = reader.integer(
    timeout,
    'spec.sessionAffinityConfig.clientIP.timeoutSeconds',
    1,
    86400,
  );
  return timeoutSeconds === undefined ? undefined : { type, timeoutSeconds };
}
