/**
 * Generates the Services and EndpointSlices of a scale benchmark: N ClusterIP services (`svc-00000` ...,
 * port 80 → 8080/TCP), each with E ready endpoints, written as JSON `List` files into a manifest directory
 * that `kproxy run --manifests` watches.
 *
 * Addresses stay inside the lab's ranges (see src/lab/lab.ts): VIPs from 198.19.0.0/16 (lab VIPs, routed to
 * the node), pool endpoints from 198.19.64.0 upward (never assigned: the control-plane benchmark only
 * programs them), so nothing collides with the lab's client (198.18.1-50.x) and pod (198.18.101-200.x)
 * addresses. The last service's EndpointSlice is a file of its own, so that a one-endpoint change
 * rewrites one small file, as a watch event on one object would.
 *
 * @module
 */
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The namespace of every generated object. */
export const BENCH_NAMESPACE = 'bench';
/** The service port and the endpoints' port. */
export const SERVICE_PORT = 80;
export const TARGET_PORT = 8080;
/** At most this many services (VIPs 198.19.0.1 - 198.19.63.250). */
export const MAX_SERVICES = 64 * 250;
const POOL_SIZE = 192 * 250;

/** What to generate. */
export interface ServiceSetOptions {
  readonly services: number;
  readonly endpointsPerService: number;
  /**
   * The endpoint addresses of one service, e.g. real pods for the service the benchmark connects to;
   * undefined (or no function): `endpointsPerService` addresses from the pool.
   */
  readonly endpointsOf?: ((index: number) => readonly string[] | undefined) | undefined;
}

/** The files written by {@link writeServiceSet}. */
export interface ServiceSetFiles {
  readonly dir: string;
  /** The EndpointSlice file of the last service ({@link writeEndpointSlice} rewrites it). */
  readonly lastSliceFile: string;
  /** Total bytes written. */
  readonly bytes: number;
}

/**
 * The name of the i-th service: zero-padded, so that name order is creation order (the last-added service
 * is also the last one in every name-sorted ruleset).
 *
 * @param index 0-based
 * @returns `svc-00042`
 * @example serviceName(42) // 'svc-00042'
 */
export function serviceName(index: number): string {
  return `svc-${String(index).padStart(5, '0')}`;
}

/**
 * The ClusterIP of the i-th service: 250 per /24 from 198.19.0.1.
 *
 * @param index 0-based, below {@link MAX_SERVICES}
 * @returns the VIP
 * @throws {RangeError} beyond {@link MAX_SERVICES}
 * @example serviceVip(0) // '198.19.0.1'; serviceVip(250) // '198.19.1.1'
 */
export function serviceVip(index: number): string {
  checkIndex(index, MAX_SERVICES, 'service');
  return `198.19.${Math.floor(index / 250)}.${(index % 250) + 1}`;
}

/**
 * A pool endpoint address (198.19.64.1 - 198.19.255.250, reused modulo the pool size): unreachable on
 * purpose, for services nobody connects to.
 *
 * @param k any non-negative integer
 * @returns an address
 * @example poolEndpoint(0) // '198.19.64.1'
 */
export function poolEndpoint(k: number): string {
  checkIndex(k, Number.MAX_SAFE_INTEGER, 'pool endpoint');
  const m = k % POOL_SIZE;
  return `198.19.${64 + Math.floor(m / 250)}.${(m % 250) + 1}`;
}

function checkIndex(index: number, limit: number, what: string): void {
  if (!Number.isInteger(index) || index < 0 || index >= limit) {
    throw new RangeError(`Bad ${what} index: ${index} (0-${limit - 1})`);
  }
}

/**
 * The Service object of the i-th service.
 *
 * @param index 0-based
 * @returns a v1 Service (plain JSON)
 * @example serviceObject(0).spec.clusterIP // '198.19.0.1'
 */
export function serviceObject(index: number) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: serviceName(index), namespace: BENCH_NAMESPACE },
    spec: {
      type: 'ClusterIP',
      clusterIP: serviceVip(index),
      ports: [{ name: 'http', protocol: 'TCP', port: SERVICE_PORT, targetPort: TARGET_PORT }],
    },
  };
}

/**
 * The EndpointSlice of the i-th service.
 *
 * @param index 0-based
 * @param addresses its ready endpoints
 * @returns a discovery.k8s.io/v1 EndpointSlice (plain JSON)
 * @example endpointSliceObject(0, ['198.18.101.2']).endpoints.length // 1
 */
export function endpointSliceObject(index: number, addresses: readonly string[]) {
  const name = serviceName(index);
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${name}-1`,
      namespace: BENCH_NAMESPACE,
      labels: { 'kubernetes.io/service-name': name },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', protocol: 'TCP', port: TARGET_PORT }],
    endpoints: addresses.map((address) => ({ addresses: [address], conditions: { ready: true } })),
  };
}

/**
 * The endpoints of service `index` under `options` (the pool unless `endpointsOf` says otherwise).
 *
 * @param index 0-based
 * @param options the set's options
 * @returns its endpoint addresses
 */
export function endpointsFor(index: number, options: ServiceSetOptions): readonly string[] {
  return (
    options.endpointsOf?.(index) ??
    Array.from({ length: options.endpointsPerService }, (_, j) =>
      poolEndpoint(index * options.endpointsPerService + j),
    )
  );
}

/**
 * Writes the set into `dir`: `services.json`, `endpointslices.json` (all but the last service's slice) and
 * `last-endpointslice.json`.
 *
 * @param dir an existing, empty directory
 * @param options how many services and endpoints
 * @returns the files
 * @throws {RangeError} for a count outside 1-{@link MAX_SERVICES}
 * @example await writeServiceSet('/tmp/kpt-bench-1', { services: 1000, endpointsPerService: 10 })
 */
export async function writeServiceSet(dir: string, options: ServiceSetOptions): Promise<ServiceSetFiles> {
  if (!Number.isInteger(options.services) || options.services < 1 || options.services > MAX_SERVICES) {
    throw new RangeError(`Bad number of services: ${options.services} (1-${MAX_SERVICES})`);
  }
  const last = options.services - 1;
  const services = Array.from({ length: options.services }, (_, i) => serviceObject(i));
  const slices = Array.from({ length: last }, (_, i) => endpointSliceObject(i, endpointsFor(i, options)));
  const servicesText = listText(services);
  const slicesText = listText(slices);
  await writeFile(join(dir, 'services.json'), servicesText);
  await writeFile(join(dir, 'endpointslices.json'), slicesText);
  const lastSliceFile = join(dir, 'last-endpointslice.json');
  const lastBytes = await writeEndpointSlice(lastSliceFile, last, endpointsFor(last, options));
  return { dir, lastSliceFile, bytes: servicesText.length + slicesText.length + lastBytes };
}

/**
 * (Re)writes one service's EndpointSlice file atomically (write aside, then rename), so that a watcher
 * never reads half a file.
 *
 * @param file the slice's file
 * @param index the service
 * @param addresses its endpoints
 * @returns bytes written
 */
export async function writeEndpointSlice(
  file: string,
  index: number,
  addresses: readonly string[],
): Promise<number> {
  const text = listText([endpointSliceObject(index, addresses)]);
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
  return text.length;
}

/** A `kind: List` document, one item per line (readable, and cheap for a YAML parser). */
function listText(items: readonly object[]): string {
  return `{"apiVersion":"v1","kind":"List","items":[\n${items.map((i) => JSON.stringify(i)).join(',\n')}\n]}\n`;
}
