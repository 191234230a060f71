/**
 * The manifests of the chaos lab, as YAML text written into kproxy's watched directory: the probed
 * service (TCP and UDP through one VIP to the lab's identity servers) with its EndpointSlice, whose
 * endpoints can be ready, terminating or gone (a rolling update), and the churn services whose endpoints
 * change many times a second while the probed service must keep working.
 *
 * Addresses: the probed VIP {@link CHAOS_VIP} and the churn VIPs 198.19.1.0/24 come from the lab's VIP
 * range; churn endpoints are 198.18.200.0/22, where no pod lives (no traffic is ever sent to them).
 *
 * @module
 */

/** The probed service's VIP. */
export const CHAOS_VIP = '198.19.0.10';
/** The probed service's namespace and name. */
export const CHAOS_NAMESPACE = 'kproxy-chaos';
export const CHAOS_SERVICE = 'web';
/** The service ports: TCP to the identity servers' banner port, UDP to their UDP port (both 9000). */
export const CHAOS_TCP_PORT = 80;
export const CHAOS_UDP_PORT = 53;
export const CHAOS_TARGET_PORT = 9000;

/** An endpoint's state in its EndpointSlice, as a rolling update moves it. */
export type EndpointPhase = 'ready' | 'terminating' | 'removed';

/** One backend of the probed service. */
export interface ChaosEndpoint {
  readonly ip: string;
  readonly phase: EndpointPhase;
}

function conditions(phase: Exclude<EndpointPhase, 'removed'>): string {
  switch (phase) {
    case 'ready':
      return '{ ready: true, serving: true, terminating: false }';
    case 'terminating':
      return '{ ready: false, serving: true, terminating: true }';
    default: {
      const never: never = phase;
      return never;
    }
  }
}

/**
 * The probed service and its EndpointSlice.
 *
 * @param endpoints its backends (a `removed` one is left out of the slice)
 * @returns two YAML documents
 * @example serviceManifest([{ ip: '198.18.101.2', phase: 'ready' }])
 */
export function serviceManifest(endpoints: readonly ChaosEndpoint[]): string {
  const listed = endpoints.filter(
    (e): e is ChaosEndpoint & { phase: Exclude<EndpointPhase, 'removed'> } => e.phase !== 'removed',
  );
  const lines = listed.map((e) => `  - { addresses: [${e.ip}], conditions: ${conditions(e.phase)} }`);
  return [
    'apiVersion: v1',
    'kind: Service',
    `metadata: { name: ${CHAOS_SERVICE}, namespace: ${CHAOS_NAMESPACE} }`,
    'spec:',
    `  clusterIP: ${CHAOS_VIP}`,
    '  ports:',
    `  - { name: tcp, protocol: TCP, port: ${CHAOS_TCP_PORT}, targetPort: ${CHAOS_TARGET_PORT} }`,
    `  - { name: udp, protocol: UDP, port: ${CHAOS_UDP_PORT}, targetPort: ${CHAOS_TARGET_PORT} }`,
    '---',
    'apiVersion: discovery.k8s.io/v1',
    'kind: EndpointSlice',
    `metadata: { name: ${CHAOS_SERVICE}-1, namespace: ${CHAOS_NAMESPACE}, labels: { kubernetes.io/service-name: ${CHAOS_SERVICE} } }`,
    'addressType: IPv4',
    'ports:',
    `- { name: tcp, protocol: TCP, port: ${CHAOS_TARGET_PORT} }`,
    `- { name: udp, protocol: UDP, port: ${CHAOS_TARGET_PORT} }`,
    listed.length === 0 ? 'endpoints: []' : 'endpoints:',
    ...lines,
    '',
  ].join('\n');
}

/** How the churn services are shaped. */
export interface ChurnShape {
  /** Churn services (at most 250). */
  readonly services: number;
  /** Endpoints per churn service (at most 1000 / services... the addresses stay within 198.18.200.0/22). */
  readonly endpointsPerService: number;
  /** Endpoints replaced per step (each replacement is two changes: one removed, one added). */
  readonly replacedPerStep: number;
}

/** The churn of the issue: 10k endpoint changes per minute, as 34 changes every 200 ms. */
export const DEFAULT_CHURN: ChurnShape = { services: 20, endpointsPerService: 10, replacedPerStep: 17 };

/** The address range churn endpoints rotate through (198.18.200.0/22: 1024 addresses). */
const CHURN_POOL = 1024;

function churnAddress(n: number): string {
  const k = n % CHURN_POOL;
  return `198.18.${200 + (k >> 8)}.${k & 255}`;
}

/**
 * The endpoint addresses of churn service `s` at step `step`: a sliding window over the pool, which moves by
 * {@link ChurnShape.replacedPerStep} endpoints per step across all services (round robin), so that each
 * step replaces exactly that many endpoints.
 *
 * @param shape the churn's shape
 * @param step the step number (0 = the starting set)
 * @returns one address list per churn service
 * @example churnEndpoints(DEFAULT_CHURN, 1)[0]
 */
export function churnEndpoints(shape: ChurnShape, step: number): string[][] {
  const moved = step * shape.replacedPerStep;
  return Array.from({ length: shape.services }, (_, s) => {
    // Service s has been moved floor(moved / services) times, plus once more if s < moved % services.
    const shift = Math.floor(moved / shape.services) + (s < moved % shape.services ? 1 : 0);
    const base = s * shape.endpointsPerService;
    return Array.from({ length: shape.endpointsPerService }, (_, e) =>
      // Each move retires the oldest endpoint of the service and adds a new one further along the pool.
      churnAddress(base + (shift + e) * shape.services * shape.endpointsPerService),
    );
  });
}

/**
 * The churn services and their EndpointSlices at one step, as one YAML file.
 *
 * @param shape the churn's shape
 * @param step the step number
 * @returns YAML documents
 * @example churnManifest(DEFAULT_CHURN, 0)
 */
export function churnManifest(shape: ChurnShape, step: number): string {
  const docs: string[] = [];
  churnEndpoints(shape, step).forEach((addresses, s) => {
    const name = `churn-${s}`;
    docs.push(
      [
        'apiVersion: v1',
        'kind: Service',
        `metadata: { name: ${name}, namespace: ${CHAOS_NAMESPACE} }`,
        `spec: { clusterIP: 198.19.1.${s + 1}, ports: [{ name: tcp, protocol: TCP, port: 80, targetPort: 8080 }] }`,
      ].join('\n'),
      [
        'apiVersion: discovery.k8s.io/v1',
        'kind: EndpointSlice',
        `metadata: { name: ${name}-1, namespace: ${CHAOS_NAMESPACE}, labels: { kubernetes.io/service-name: ${name} } }`,
        'addressType: IPv4',
        'ports: [{ name: tcp, protocol: TCP, port: 8080 }]',
        'endpoints:',
        ...addresses.map((ip) => `  - { addresses: [${ip}], conditions: { ready: true } }`),
      ].join('\n'),
    );
  });
  return `${docs.join('\n---\n')}\n`;
}

/**
 * How many endpoints differ between two steps (added plus removed), counted over all churn services.
 *
 * @param shape the churn's shape
 * @param from one step
 * @param to another
 * @returns the number of endpoint changes
 * @example churnChanges(DEFAULT_CHURN, 0, 1) // 34
 */
export function churnChanges(shape: ChurnShape, from: number, to: number): number {
  const a = churnEndpoints(shape, from);
  const b = churnEndpoints(shape, to);
  let changes = 0;
  a.forEach((before, s) => {
    const after = new Set(b[s]);
    const was = new Set(before);
    for (const ip of before) if (!after.has(ip)) changes++;
    for (const ip of after) if (!was.has(ip)) changes++;
  });
  return changes;
}
