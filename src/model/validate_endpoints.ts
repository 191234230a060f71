/**
 * Validates discovery.k8s.io/v1 EndpointSlices and legacy core/v1 Endpoints (the JSON shapes of
 * `V1EndpointSlice` and `V1Endpoints`) and reduces both to {@link EndpointSliceSpec}s, with the condition
 * defaults of upstream `pkg/proxy/endpointslicecache.go`.
 *
 * @module
 */
import type {
  CoreV1EndpointPort,
  DiscoveryV1EndpointPort,
  V1Endpoint,
  V1EndpointAddress,
  V1EndpointConditions,
  V1EndpointHints,
  V1EndpointSlice,
  V1EndpointSubset,
  V1Endpoints,
} from '@kubernetes/client-node';
import {
  compareIPs,
  describe,
  type FieldReader,
  isAbsent,
  isDns1123Label,
  isDns1123Subdomain,
  isLabelValue,
  readObjectMeta,
  type Untrusted,
} from './_field_checks.ts';
import type { ObjectProblem } from './problem.ts';
import type { EndpointAddressSpec, EndpointPortSpec, EndpointSliceSpec, IPFamily } from './types.ts';
import type { Validated } from './validated.ts';

export type { Validated } from './validated.ts';

/** The API's limit on `hints.forZones` and on `hints.forNodes` entries. */
export const MAX_HINTS = 8;

/** An endpoint without hints of a kind (shared, so that a large slice allocates nothing for them). */
const NO_HINTS: readonly string[] = Object.freeze([]);

/**
 * The annotation the endpoint controllers set to when the change an Endpoints or EndpointSlice object
 * carries was triggered (`v1.EndpointsLastChangeTriggerTime`), RFC 3339 with up to nanoseconds.
 */
export const LAST_CHANGE_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';

/** Go's `time.RFC3339Nano` as `time.Parse` reads it: fraction optional, `Z` or a `±hh:mm` offset. */
const RFC3339_NANO = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d{1,9})?(Z|([+-])(\d\d):(\d\d))$/;

/**
 * Parses an RFC 3339 time as Go's `time.Parse(time.RFC3339Nano, …)` accepts it (no 24:00, no leap
 * second, no 31 February).
 *
 * @param value the text
 * @returns epoch milliseconds (with the fraction below a millisecond), or undefined when it is not such a time
 * @example parseRfc3339('2025-01-02T03:04:05.5Z') // 1735787045500
 */
export function parseRfc3339(value: string): number | undefined {
  const m = RFC3339_NANO.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const offsetHours = Number(m[10] ?? 0);
  const offsetMinutes = Number(m[11] ?? 0);
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) return undefined;
  const utc = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(utc);
  // Date.UTC rolls 31 February over to March: a date that does not exist changes on the way back.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return undefined;
  }
  const sign = m[9] === '-' ? -1 : 1;
  const offsetMs = sign * (offsetHours * 60 + offsetMinutes) * 60_000;
  return utc - offsetMs + Number(`0${m[7] ?? ''}`) * 1000;
}

/**
 * The object's {@link LAST_CHANGE_TRIGGER_TIME}, or undefined when it is absent or bad; a bad one is a
 * problem in `dropped` (the object is kept: upstream logs it and measures nothing from it).
 */
function readTriggerTime(
  reader: FieldReader,
  annotations: Readonly<Record<string, string>>,
  dropped: ObjectProblem[],
): number | undefined {
  const value = annotations[LAST_CHANGE_TRIGGER_TIME];
  if (value === undefined) return undefined;
  const at = parseRfc3339(value);
  if (at === undefined) {
    const before = reader.problems.length;
    reader.field(
      `metadata.annotations[${JSON.stringify(LAST_CHANGE_TRIGGER_TIME)}]`,
      `not an RFC 3339 time: ${describe(value)}`,
    );
    dropped.push(...reader.problems.splice(before));
  }
  return at;
}

/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/**
 * Validates an EndpointSlice.
 *
 * Skipped (not an error): `addressType: FQDN` (kube-proxy does not proxy to names) and slices labelled
 * `service.kubernetes.io/service-proxy-name` or `service.kubernetes.io/headless` (upstream's informers
 * filter those out). Conditions default as upstream kube-proxy reads them: ready unset = true, serving
 * unset = true (the API's "nil means true"), terminating unset = false. A port without a number is dropped,
 * as upstream ignores it. Endpoints are sorted by address and ports by name, so that the same slice always
 * gives the same value.
 *
 * Topology hints (`hints.forZones[].name`, `hints.forNodes[].name`) are checked as the API server checks
 * them (at most 8, no repeats, zone names label values, node names DNS-1123 subdomains, and not empty). A
 * bad list is a problem, but only that list is dropped (the slice is kept, `problems` beside the value):
 * an endpoint without hints makes the proxy ignore the service's hints, the safe side.
 *
 * @param obj the untrusted object, shaped like `V1EndpointSlice`
 * @param file where it came from, for problems (undefined for the API server)
 * @returns the validated slice, a skip reason, or every problem found
 * @example
 * validateEndpointSlice({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
 *   metadata: { name: 'web-abc12', labels: { 'kubernetes.io/service-name': 'web' } },
 *   addressType: 'IPv4', ports: [{ port: 8080 }], endpoints: [{ addresses: ['10.1.0.5'] }] }, 'web.yaml')
 */
export function validateEndpointSlice(obj: unknown, file: string | undefined): Validated<EndpointSliceSpec> {
  const meta = readObjectMeta(obj, 'EndpointSlice', file, isDns1123Subdomain, 'DNS-1123 subdomain');
  if (!('reader' in meta)) return { ok: false, problems: meta.problems };
  const { reader } = meta;
  if (meta.skipReason !== undefined && reader.problems.length === 0)
    return { ok: 'skipped', reason: meta.skipReason };
  const slice = obj as Untrusted<V1EndpointSlice>;
  const addressType = reader.oneOf(slice.addressType, 'addressType', ['IPv4', 'IPv6', 'FQDN'] as const);
  if (isAbsent(slice.addressType)) reader.field('addressType', 'required');
  if (addressType === 'FQDN' && reader.problems.length === 0) {
    return { ok: 'skipped', reason: 'addressType FQDN: kube-proxy proxies only to IP addresses' };
  }
  const serviceName = meta.labels[SERVICE_NAME_LABEL];
  const labelField = `metadata.labels[${JSON.stringify(SERVICE_NAME_LABEL)}]`;
  if (serviceName === undefined || serviceName === '') {
    reader.field(labelField, 'required: the name of the service this slice belongs to');
  } else if (!isDns1123Label(serviceName)) {
    reader.field(labelField, `not a service name (DNS-1123 label): ${describe(serviceName)}`);
  }
  const family = addressType === 'FQDN' ? undefined : addressType;
  const dropped: ObjectProblem[] = [];
  const lastChangeTriggerTime = readTriggerTime(reader, meta.annotations, dropped);
  const endpoints = (reader.list(slice.endpoints, 'endpoints') ?? []).flatMap(
    (item, i) => readSliceEndpoint(reader, item, `endpoints[${i}]`, family, dropped) ?? [],
  );
  const ports = readPorts(reader, slice.ports, 'ports', 'slice');
  if (
    reader.problems.length > 0 ||
    family === undefined ||
    serviceName === undefined ||
    ports === undefined
  ) {
    return { ok: false, problems: [...reader.problems, ...dropped] };
  }
  return {
    ok: true,
    value: {
      namespace: meta.namespace,
      name: meta.name,
      serviceName,
      addressType: family,
      ports,
      endpoints: endpoints.sort(compareEndpoints),
      legacy: false,
      ...(lastChangeTriggerTime === undefined ? {} : { lastChangeTriggerTime }),
    },
    ...(dropped.length > 0 ? { problems: dropped } : {}),
  };
}

/**
 * Converts a legacy core/v1 Endpoints object to EndpointSlices, as the EndpointSlice mirroring controller
 * would: one slice per address family present, `<name>` (IPv4, or the only family) and `<name>-ipv6` (IPv6
 * when both are present), `legacy: true`. `addresses` are ready and serving, `notReadyAddresses` neither.
 *
 * Subsets whose port lists differ cannot share a slice (a slice has one port list): each further port list
 * of a family gets its own slice, named with a suffix `-2`, `-3`... in the order of the sorted port lists.
 * An Endpoints object without addresses gives no slice.
 *
 * @param obj the untrusted object, shaped like `V1Endpoints`
 * @param file where it came from, for problems (undefined for the API server)
 * @returns the slices (possibly none), a skip reason, or every problem found
 * @example
 * validateEndpoints({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web' },
 *   subsets: [{ addresses: [{ ip: '10.1.0.5' }], ports: [{ port: 8080 }] }] }, 'web.yaml')
 * // { ok: true, value: [{ name: 'web', serviceName: 'web', addressType: 'IPv4', legacy: true, ... }] }
 */
export function validateEndpoints(
  obj: unknown,
  file: string | undefined,
): Validated<readonly EndpointSliceSpec[]> {
  const meta = readObjectMeta(obj, 'Endpoints', file, isDns1123Subdomain, 'DNS-1123 subdomain');
  if (!('reader' in meta)) return { ok: false, problems: meta.problems };
  const { reader } = meta;
  if (meta.skipReason !== undefined && reader.problems.length === 0)
    return { ok: 'skipped', reason: meta.skipReason };
  const endpoints = obj as Untrusted<V1Endpoints>;
  const dropped: ObjectProblem[] = [];
  const lastChangeTriggerTime = readTriggerTime(reader, meta.annotations, dropped);
  /** family -> port-list key -> the group */
  const groups = new Map<
    IPFamily,
    Map<string, { ports: EndpointPortSpec[]; endpoints: EndpointAddressSpec[] }>
  >();
  (reader.list(endpoints.subsets, 'subsets') ?? []).forEach((item, i) => {
    const at = `subsets[${i}]`;
    if (isAbsent(item)) reader.report('KPROXY_SHAPE', at, `must be a mapping, got ${describe(item)}`);
    const subset = reader.record<V1EndpointSubset>(item, at);
    if (subset === undefined) return;
    const ports = readPorts(reader, subset.ports, `${at}.ports`, 'legacy');
    const addresses = [
      ...readLegacyAddresses(reader, subset.addresses, `${at}.addresses`, true),
      ...readLegacyAddresses(reader, subset.notReadyAddresses, `${at}.notReadyAddresses`, false),
    ];
    if (ports === undefined) return;
    const portsKey = JSON.stringify(ports);
    for (const { family, endpoint } of addresses) {
      const byPorts = groups.get(family) ?? new Map();
      groups.set(family, byPorts);
      const group = byPorts.get(portsKey) ?? { ports, endpoints: [] };
      byPorts.set(portsKey, group);
      group.endpoints.push(endpoint);
    }
  });
  if (reader.problems.length > 0) return { ok: false, problems: [...reader.problems, ...dropped] };
  const slices: EndpointSliceSpec[] = [];
  for (const family of ['IPv4', 'IPv6'] as const) {
    const byPorts = groups.get(family);
    if (byPorts === undefined) continue;
    const base = family === 'IPv6' && groups.has('IPv4') ? `${meta.name}-ipv6` : meta.name;
    [...byPorts.keys()].sort().forEach((key, k) => {
      const group = byPorts.get(key)!;
      slices.push({
        namespace: meta.namespace,
        name: k === 0 ? base : `${base}-${k + 1}`,
        serviceName: meta.name,
        addressType: family,
        ports: group.ports,
        endpoints: group.endpoints.sort(compareEndpoints),
        legacy: true,
        ...(lastChangeTriggerTime === undefined ? {} : { lastChangeTriggerTime }),
      });
    });
  }
  return { ok: true, value: slices, ...(dropped.length > 0 ? { problems: dropped } : {}) };
}

function readSliceEndpoint(
  reader: FieldReader,
  item: unknown,
  at: string,
  family: IPFamily | undefined,
  dropped: ObjectProblem[],
): EndpointAddressSpec | undefined {
  const endpoint = reader.record<V1Endpoint>(item, at);
  if (endpoint === undefined) {
    if (isAbsent(item)) reader.field(at, 'required');
    return undefined;
  }
  const list = reader.list(endpoint.addresses, `${at}.addresses`);
  if (isAbsent(endpoint.addresses) || list?.length === 0) {
    reader.field(`${at}.addresses`, 'required: at least one address');
  }
  if (list !== undefined && list.length > 100) {
    reader.field(`${at}.addresses`, `must hold at most 100 addresses, got ${list.length}`);
  }
  const addresses = (list ?? []).flatMap((address, j) => {
    const field = `${at}.addresses[${j}]`;
    const ip = reader.ip(address, field);
    if (ip !== undefined && family !== undefined && ip.family !== family) {
      reader.field(field, `${ip.family} address ${describe(ip.ip)} in a slice of addressType ${family}`);
    }
    return ip?.ip ?? [];
  });
  const conditions = reader.record<V1EndpointConditions>(endpoint.conditions, `${at}.conditions`) ?? {};
  const ready = reader.boolean(conditions.ready, `${at}.conditions.ready`) ?? true;
  const serving = reader.boolean(conditions.serving, `${at}.conditions.serving`) ?? true;
  const terminating = reader.boolean(conditions.terminating, `${at}.conditions.terminating`) ?? false;
  const nodeName = readName(
    reader,
    endpoint.nodeName,
    `${at}.nodeName`,
    isDns1123Subdomain,
    'DNS-1123 subdomain',
  );
  const zone = readName(reader, endpoint.zone, `${at}.zone`, isLabelValue, 'label value');
  const hostname = readName(reader, endpoint.hostname, `${at}.hostname`, isDns1123Label, 'DNS-1123 label');
  // Read last, and their problems set apart: they drop a hint list, not the slice.
  const before = reader.problems.length;
  const hints = reader.record<V1EndpointHints>(endpoint.hints, `${at}.hints`) ?? {};
  const zoneHints = readHints(reader, hints.forZones, `${at}.hints.forZones`, isLabelValue, 'label value');
  const nodeHints = readHints(
    reader,
    hints.forNodes,
    `${at}.hints.forNodes`,
    isDns1123Subdomain,
    'DNS-1123 subdomain',
  );
  dropped.push(...reader.problems.splice(before));
  return { addresses, ready, serving, terminating, nodeName, zone, hostname, zoneHints, nodeHints };
}

/**
 * The names of one hint list (`forZones` or `forNodes`), sorted; the empty list when absent or bad (a bad
 * list is dropped whole: half a list would send traffic where the controller did not mean it to go).
 */
function readHints(
  reader: FieldReader,
  v: unknown,
  field: string,
  isValid: (s: string) => boolean,
  syntax: string,
): readonly string[] {
  const list = reader.list(v, field);
  if (list === undefined || list.length === 0) return NO_HINTS;
  if (list.length > MAX_HINTS) {
    reader.field(field, `must hold at most ${MAX_HINTS} entries, got ${list.length}`);
    return NO_HINTS;
  }
  const names: string[] = [];
  let bad = false;
  list.forEach((item, i) => {
    const at = `${field}[${i}].name`;
    const entry = reader.record<{ name: string }>(item, `${field}[${i}]`);
    const name = entry === undefined ? undefined : reader.string(entry.name, at);
    if (name === undefined || name === '') {
      if (entry !== undefined && (isAbsent(entry.name) || entry.name === '')) reader.field(at, 'required');
      bad = true;
    } else if (!isValid(name)) {
      reader.field(at, `not a ${syntax}: ${describe(name)}`);
      bad = true;
    } else if (names.includes(name)) {
      reader.field(at, `duplicate ${describe(name)}`);
      bad = true;
    } else {
      names.push(name);
    }
  });
  return bad ? NO_HINTS : names.sort();
}

function readLegacyAddresses(
  reader: FieldReader,
  v: unknown,
  field: string,
  ready: boolean,
): { family: IPFamily; endpoint: EndpointAddressSpec }[] {
  return (reader.list(v, field) ?? []).flatMap((item, i) => {
    const at = `${field}[${i}]`;
    const address = reader.record<V1EndpointAddress>(item, at);
    if (address === undefined) return [];
    if (isAbsent(address.ip)) reader.field(`${at}.ip`, 'required');
    const ip = reader.ip(address.ip, `${at}.ip`);
    const nodeName = readName(
      reader,
      address.nodeName,
      `${at}.nodeName`,
      isDns1123Subdomain,
      'DNS-1123 subdomain',
    );
    const hostname = readName(reader, address.hostname, `${at}.hostname`, isDns1123Label, 'DNS-1123 label');
    if (ip === undefined) return [];
    const endpoint = {
      addresses: [ip.ip],
      ready,
      serving: ready,
      terminating: false,
      nodeName,
      zone: undefined,
      hostname,
      zoneHints: NO_HINTS,
      nodeHints: NO_HINTS,
    };
    return [{ family: ip.family, endpoint }];
  });
}

/**
 * Ports of a slice or of a legacy subset, sorted by name then protocol. In a slice, a port without a number
 * is dropped (upstream ignores it); in a legacy subset the number is required, and so are names when there
 * is more than one port (as the API validates).
 */
function readPorts(
  reader: FieldReader,
  v: unknown,
  field: string,
  flavour: 'slice' | 'legacy',
): EndpointPortSpec[] | undefined {
  const list = reader.list(v, field) ?? [];
  const ports: EndpointPortSpec[] = [];
  const names = new Map<string, number>();
  let bad = false;
  list.forEach((item, i) => {
    const at = `${field}[${i}]`;
    // An empty item (`ports: [~]`) is no port: said, not dropped silently with the object.
    if (isAbsent(item)) reader.report('KPROXY_SHAPE', at, `must be a mapping, got ${describe(item)}`);
    const port = reader.record<DiscoveryV1EndpointPort & CoreV1EndpointPort>(item, at);
    if (port === undefined) {
      bad = true;
      return;
    }
    const name = reader.string(port.name, `${at}.name`) ?? '';
    if (name !== '' && !isDns1123Label(name))
      reader.field(`${at}.name`, `not a DNS-1123 label: ${describe(name)}`);
    if (name === '' && flavour === 'legacy' && list.length > 1) {
      reader.field(`${at}.name`, 'required when the subset has more than one port');
    }
    const previous = names.get(name);
    if (previous !== undefined)
      reader.field(`${at}.name`, `duplicate name ${describe(name)} (also ${field}[${previous}])`);
    else names.set(name, i);
    const protocol = reader.protocol(port.protocol, `${at}.protocol`);
    if (flavour === 'legacy' && isAbsent(port.port)) reader.field(`${at}.port`, 'required');
    // A slice port with no number (or 0) is ignored, as upstream endpointslicecache does.
    const number =
      port.port === 0 && flavour === 'slice' ? undefined : reader.integer(port.port, `${at}.port`, 1, 65535);
    if (protocol === undefined) bad = true;
    if (protocol !== undefined && number !== undefined) ports.push({ name, protocol, port: number });
  });
  if (bad) return undefined;
  return ports.sort((a, b) => cmp(a.name, b.name) || cmp(a.protocol, b.protocol) || a.port - b.port);
}

function readName(
  reader: FieldReader,
  v: unknown,
  field: string,
  isValid: (s: string) => boolean,
  syntax: string,
): string | undefined {
  const s = reader.string(v, field);
  if (s === undefined || s === '') return undefined;
  if (isValid(s)) return s;
  reader.field(field, `not a ${syntax}: ${describe(s)}`);
  return undefined;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders endpoints by address, then by every other field, so that the order of the input never matters. */
function compareEndpoints(a: EndpointAddressSpec, b: EndpointAddressSpec): number {
  const n = Math.min(a.addresses.length, b.addresses.length);
  for (let i = 0; i < n; i++) {
    const byIP = compareIPs(a.addresses[i]!, b.addresses[i]!);
    if (byIP !== 0) return byIP;
  }
  return a.addresses.length - b.addresses.length || cmp(JSON.stringify(a), JSON.stringify(b));
}
