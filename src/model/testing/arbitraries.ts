/**
 * fast-check generators for the property-based tests (issue 17): raw Kubernetes Services and
 * EndpointSlices as a manifest or the API server gives them (valid, or mutated into bad ones), and the
 * validated specs they give. Names are hostile but valid: up to 63 characters, leading digits, runs of `-`,
 * and words that mean something to the kernel tools (`jump`, `drop`, `comment`, `kube-services`...).
 *
 * Addresses (no traffic is ever sent to them; the test ranges of the preamble all the same): node-a at
 * 198.18.0.100, pods (endpoints) 198.18.64.1-40 in the cluster CIDR 198.18.64.0/18, cluster IPs
 * 198.18.128.0/18, external IPs 198.19.99.0/24, load-balancer IPs 198.19.98.0/24, external clients
 * 198.19.200.0/24. Cluster IPs and node ports are unique in a cluster (the API server allocates them so);
 * endpoint addresses are drawn from a small pool, so that services share pods.
 *
 * Runs are bounded and reproducible: {@link propertyParameters} fixes the seed (`KPROXY_FC_SEED` overrides
 * it) and fast-check prints the seed and the counterexample's path on failure.
 *
 * @module
 */
import fc from 'fast-check';
import type { PlanOptions } from '../../contracts/plan_options.ts';
import type { TracePacket } from '../../contracts/trace.ts';
import type { EndpointSliceSpec, ProxyState, ServicePortState, ServiceSpec } from '../types.ts';
import { validateEndpointSlice } from '../validate_endpoints.ts';
import { validateService } from '../validate_service.ts';
import { planOptions } from './fixtures.ts';

/** This proxy's node (as src/model/testing/fixtures.ts). */
export const ARB_NODE_NAME = 'node-a';
/** This proxy's node address. */
export const ARB_NODE_IP = '198.18.0.100';
/** The pods' range, for `--cluster-cidr`. */
export const ARB_CLUSTER_CIDR = '198.18.64.0/18';
/** How many pod addresses endpoints are drawn from (198.18.64.1 ...). */
export const ARB_POD_POOL = 40;
/** The scheduler annotation the ipvs mode reads (a place where object text reaches a kernel tool). */
const IPVS_SCHEDULER_ANNOTATION = 'kproxy.io/ipvs-scheduler';

/**
 * fast-check parameters for a bounded, reproducible run: a fixed seed unless `KPROXY_FC_SEED` is set, and
 * the number of runs given (times `KPROXY_FC_RUNS_FACTOR`, for a longer hunt by hand).
 *
 * @param numRuns runs in `npm test`
 * @returns parameters for `fc.assert`
 * @example fc.assert(fc.property(arbServiceManifest(0), check), propertyParameters(100))
 */
export function propertyParameters(numRuns: number): fc.Parameters<unknown> {
  const seed = Number(process.env['KPROXY_FC_SEED'] ?? 1717);
  const factor = Number(process.env['KPROXY_FC_RUNS_FACTOR'] ?? 1);
  return { seed, numRuns: Math.max(1, Math.round(numRuns * factor)), includeErrorInReport: true };
}

/** Words that mean something to iptables, nft, ipset or ipvsadm, all valid DNS-1123 labels. */
const TOOL_WORDS = [
  'jump',
  'goto',
  'drop',
  'accept',
  'reject',
  'return',
  'comment',
  'counter',
  'map',
  'set',
  'element',
  'flush',
  'delete',
  'add',
  'table',
  'chain',
  'rule',
  'ip',
  'ip6',
  'inet',
  'tcp',
  'udp',
  'sctp',
  'meta',
  'masquerade',
  'dnat',
  'snat',
  'commit',
  'kube-services',
  'kube-svc-abc',
  'kube-mark-masq',
  'kube-proxy',
  'services',
  'nat-prerouting',
  'create',
  'restore',
  'any',
  'none',
  'a',
  '0',
  '9',
  '0-0',
  'x--y',
  'p80',
] as const;

/**
 * A DNS-1123 label (namespace, service and port names): hostile but valid, up to 63 characters.
 *
 * @returns the arbitrary
 * @example fc.sample(dns1123Label(), 3)
 */
export function dns1123Label(): fc.Arbitrary<string> {
  const inner = fc.string({ unit: fc.constantFrom(...'abz09-'), minLength: 0, maxLength: 61 });
  const edge = fc.constantFrom(...'az09');
  return fc.oneof(
    fc.constantFrom(...TOOL_WORDS),
    fc.tuple(edge, inner, edge).map(([a, b, c]) => `${a}${b}${c}`),
    // The longest names: 63 characters, where comments and chain names run out of room.
    fc
      .tuple(edge, fc.string({ unit: fc.constantFrom(...'a0-'), minLength: 61, maxLength: 61 }), edge)
      .map(([a, b, c]) => `${a}${b}${c}`),
  );
}

/** An IANA_SVC_NAME (a named target port): 1-15 of `[-a-z0-9]`, a letter, no `--`, no `-` at the ends. */
function ianaSvcName(): fc.Arbitrary<string> {
  return fc
    .array(fc.string({ unit: fc.constantFrom(...'abz09'), minLength: 1, maxLength: 4 }), {
      minLength: 1,
      maxLength: 3,
    })
    .map((parts) => `x${parts.join('-')}`.slice(0, 15).replace(/-$/, ''));
}

/** One port of a generated service. */
interface PortShape {
  readonly name: string;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  readonly port: number;
  /** A number, or a name resolved through the slices' ports. */
  readonly targetPort: number | string | undefined;
  /** The port the endpoints listen on (what the slices say). */
  readonly endpointPort: number;
}

/** One endpoint of a generated slice. */
interface EndpointShape {
  readonly pod: number;
  readonly ready: boolean | undefined;
  readonly serving: boolean | undefined;
  readonly terminating: boolean | undefined;
  readonly node: 'node-a' | 'node-b' | undefined;
  readonly zone: string | undefined;
}

const endpointShape: fc.Arbitrary<EndpointShape> = fc.record({
  pod: fc.integer({ min: 1, max: ARB_POD_POOL }),
  ready: fc.option(fc.boolean(), { nil: undefined }),
  serving: fc.option(fc.boolean(), { nil: undefined }),
  terminating: fc.option(fc.boolean(), { nil: undefined }),
  node: fc.constantFrom('node-a' as const, 'node-b' as const, undefined),
  zone: fc.constantFrom(undefined, 'zone-a', 'Zone_B.1'),
});

const portShapes: fc.Arbitrary<PortShape[]> = fc
  .uniqueArray(
    fc.record({
      name: dns1123Label(),
      protocol: fc.constantFrom('TCP' as const, 'UDP' as const, 'SCTP' as const),
      port: fc.oneof(fc.constantFrom(1, 53, 80, 443, 65535), fc.integer({ min: 1, max: 65535 })),
      named: fc.option(ianaSvcName(), { nil: undefined }),
      targetNumber: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 6, selector: (p) => p.name },
  )
  .map((ports) => {
    const seen = new Set<string>();
    return ports
      .filter((p) => {
        const key = `${p.port}/${p.protocol}`; // the API refuses two ports with one number and protocol
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      })
      .map((p) => ({
        name: p.name,
        protocol: p.protocol,
        port: p.port,
        targetPort: p.named ?? p.targetNumber,
        endpointPort: p.targetNumber ?? p.port,
      }));
  });

/** The shape of one service and its slices, before addresses are allocated. */
interface ServiceShape {
  readonly namespace: string;
  readonly name: string;
  readonly type: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  readonly ports: readonly PortShape[];
  readonly externalIPs: number;
  readonly loadBalancerIPs: number;
  readonly sourceRanges: readonly string[];
  readonly affinity: number | undefined;
  readonly externalTrafficPolicy: 'Cluster' | 'Local' | undefined;
  readonly internalTrafficPolicy: 'Cluster' | 'Local' | undefined;
  readonly scheduler: string | undefined;
  readonly slices: readonly (readonly EndpointShape[])[];
  /** A single port left unnamed (the service's and the slices'). */
  readonly unnamedSinglePort: boolean;
}

function unnamed(s: ServiceShape): boolean {
  return s.unnamedSinglePort && s.ports.length === 1;
}

const serviceShape: fc.Arbitrary<ServiceShape> = fc.record({
  namespace: dns1123Label(),
  name: dns1123Label(),
  type: fc.constantFrom('ClusterIP' as const, 'NodePort' as const, 'LoadBalancer' as const),
  ports: portShapes,
  externalIPs: fc.integer({ min: 0, max: 2 }),
  loadBalancerIPs: fc.integer({ min: 0, max: 2 }),
  sourceRanges: fc.uniqueArray(
    fc.constantFrom('198.19.200.0/25', '198.19.200.2/32', '198.18.64.0/18', '0.0.0.0/0', '198.19.0.0/16'),
    { maxLength: 2 },
  ),
  affinity: fc.option(fc.integer({ min: 1, max: 86400 }), { nil: undefined }),
  externalTrafficPolicy: fc.constantFrom('Cluster' as const, 'Local' as const, undefined),
  internalTrafficPolicy: fc.constantFrom('Cluster' as const, 'Local' as const, undefined),
  // Object text that reaches a kernel tool's input only as a warning comment (ipvs): anything at all.
  scheduler: fc.option(fc.oneof(fc.constantFrom('sh', 'mh', ' lc '), fc.string({ maxLength: 20 })), {
    nil: undefined,
  }),
  slices: fc.array(fc.array(endpointShape, { maxLength: 12 }), { maxLength: 3 }),
  unnamedSinglePort: fc.boolean(),
});

/** The raw Kubernetes objects of a generated cluster. */
export interface RawCluster {
  /** `v1` Services, in generation order. */
  readonly services: readonly Record<string, unknown>[];
  /** `discovery.k8s.io/v1` EndpointSlices, in generation order. */
  readonly slices: readonly Record<string, unknown>[];
}

/** The 198.18.128.0/18 cluster IP of service `i`. */
function clusterIPOf(i: number): string {
  return `198.18.${128 + (i >> 8)}.${(i & 255) + 1}`;
}

function rawService(s: ServiceShape, i: number): Record<string, unknown> {
  const external = s.type !== 'ClusterIP';
  const nodePort = (j: number) => 30000 + i * 8 + j; // unique in the cluster, as the API allocates them
  const spec: Record<string, unknown> = {
    type: s.type,
    clusterIP: clusterIPOf(i),
    ports: s.ports.map((p, j) => ({
      ...(unnamed(s) ? {} : { name: p.name }),
      protocol: p.protocol,
      port: p.port,
      ...(p.targetPort === undefined ? {} : { targetPort: p.targetPort }),
      ...(external ? { nodePort: nodePort(j) } : {}),
    })),
  };
  if (s.externalIPs > 0) {
    spec['externalIPs'] = Array.from({ length: s.externalIPs }, (_, k) => `198.19.99.${(i * 2 + k) % 250}`);
  }
  if (s.type === 'LoadBalancer' && s.sourceRanges.length > 0)
    spec['loadBalancerSourceRanges'] = s.sourceRanges;
  if (s.affinity !== undefined) {
    spec['sessionAffinity'] = 'ClientIP';
    spec['sessionAffinityConfig'] = { clientIP: { timeoutSeconds: s.affinity } };
  }
  if (s.externalTrafficPolicy !== undefined) spec['externalTrafficPolicy'] = s.externalTrafficPolicy;
  if (s.internalTrafficPolicy !== undefined) spec['internalTrafficPolicy'] = s.internalTrafficPolicy;
  if (s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local') {
    spec['healthCheckNodePort'] = nodePort(7);
  }
  const service: Record<string, unknown> = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      namespace: s.namespace,
      name: s.name,
      ...(s.scheduler === undefined ? {} : { annotations: { [IPVS_SCHEDULER_ANNOTATION]: s.scheduler } }),
    },
    spec,
  };
  if (s.type === 'LoadBalancer' && s.loadBalancerIPs > 0) {
    service['status'] = {
      loadBalancer: {
        ingress: Array.from({ length: s.loadBalancerIPs }, (_, k) => ({
          ip: `198.19.98.${(i * 2 + k) % 250}`,
        })),
      },
    };
  }
  return service;
}

function rawSlice(s: ServiceShape, endpoints: readonly EndpointShape[], k: number): Record<string, unknown> {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: s.namespace,
      name: `${s.name}-${k}`,
      labels: { 'kubernetes.io/service-name': s.name },
    },
    addressType: 'IPv4',
    ports: s.ports.map((p) => ({
      // A slice names its ports as the service does (an unnamed single port: no name).
      ...(unnamed(s) ? {} : { name: p.name }),
      protocol: p.protocol,
      port: p.endpointPort,
    })),
    endpoints: endpoints.map((e) => {
      const conditions: Record<string, boolean> = {};
      if (e.ready !== undefined) conditions['ready'] = e.ready;
      if (e.serving !== undefined) conditions['serving'] = e.serving;
      if (e.terminating !== undefined) conditions['terminating'] = e.terminating;
      return {
        addresses: [`198.18.64.${e.pod}`],
        conditions,
        ...(e.node === undefined ? {} : { nodeName: e.node }),
        ...(e.zone === undefined ? {} : { zone: e.zone }),
      };
    }),
  };
}

/**
 * A valid cluster as raw objects: Services (every type, port protocol, both traffic policies, affinity,
 * external and load-balancer IPs, source ranges, a scheduler annotation of any text) with their
 * EndpointSlices (any conditions, on this node or another). Service names are unique per namespace.
 *
 * @param options at most this many services (default 6)
 * @returns the arbitrary
 * @example fc.assert(fc.property(arbRawCluster(), (c) => c.services.length <= 6), propertyParameters(10))
 */
export function arbRawCluster(options: { maxServices?: number } = {}): fc.Arbitrary<RawCluster> {
  return fc
    .uniqueArray(serviceShape, {
      maxLength: options.maxServices ?? 6,
      selector: (s) => `${s.namespace}/${s.name}`,
    })
    .map((shapes) => ({
      services: shapes.map(rawService),
      slices: shapes.flatMap((s) => s.slices.map((endpoints, k) => rawSlice(s, endpoints, k))),
    }));
}

/** A generated cluster after validation: what the sources hand the tracker. */
export interface SpecCluster {
  readonly services: readonly ServiceSpec[];
  readonly slices: readonly EndpointSliceSpec[];
}

/**
 * Validates a raw cluster (every object of {@link arbRawCluster} is valid).
 *
 * @param raw the raw objects
 * @returns their specs
 * @throws {Error} when an object does not validate (a generator bug)
 * @example toSpecs(fc.sample(arbRawCluster(), 1)[0]!)
 */
export function toSpecs(raw: RawCluster): SpecCluster {
  const services = raw.services.map((o) => {
    const r = validateService(o, undefined);
    if (r.ok !== true) throw new Error(`A generated service is not valid: ${JSON.stringify(r)}`);
    return r.value;
  });
  const slices = raw.slices.map((o) => {
    const r = validateEndpointSlice(o, undefined);
    if (r.ok !== true) throw new Error(`A generated slice is not valid: ${JSON.stringify(r)}`);
    return r.value;
  });
  return { services, slices };
}

/**
 * A valid cluster, validated.
 *
 * @param options at most this many services (default 6)
 * @returns the arbitrary
 * @example fc.sample(arbSpecCluster(), 1)
 */
export function arbSpecCluster(options: { maxServices?: number } = {}): fc.Arbitrary<SpecCluster> {
  return arbRawCluster(options).map(toSpecs);
}

/**
 * Every path to a value inside an object (the object itself excluded), depth first.
 *
 * @param value the object
 * @param prefix the path of `value` itself
 * @returns the paths, e.g. `[['spec'], ['spec', 'ports'], ['spec', 'ports', 0], ...]`
 * @example valuePaths({ spec: { ports: [80] } }).length // 3
 */
export function valuePaths(value: unknown, prefix: readonly (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      out.push([...prefix, i], ...valuePaths(v, [...prefix, i]));
    });
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) out.push([...prefix, k], ...valuePaths(v, [...prefix, k]));
  }
  return out;
}

/** One change to an object: a value replaced, removed, or a key added where there was none. */
export type Mutation =
  | { readonly op: 'set'; readonly at: number; readonly value: unknown }
  | { readonly op: 'delete'; readonly at: number }
  | { readonly op: 'add'; readonly at: number; readonly key: string; readonly value: unknown };

/** Values a mutation writes: any JSON, and the near misses a person writes by hand. */
function hostileValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(
      '',
      ' ',
      'None',
      '0',
      '-1',
      '65536',
      '1.5',
      'TCP ',
      'tcp',
      'IPv6',
      'FQDN',
      '10.0.0.256',
      '::ffff:1.2.3.4',
      'fe80::1%eth0',
      '1.2.3.4/33',
      'a"b',
      'a\nb',
      '$(reboot)',
      "' -j ACCEPT",
      'x'.repeat(300),
      '\u2028',
      0,
      -1,
      65536,
      1.5,
      1e21,
      true,
      null,
      [],
      {},
    ),
  );
}

/**
 * A mutation of some object: which value (an index into {@link valuePaths}, taken modulo their number) and
 * how.
 *
 * @returns the arbitrary
 * @example applyMutation(object, fc.sample(arbMutation(), 1)[0]!)
 */
export function arbMutation(): fc.Arbitrary<Mutation> {
  const at = fc.nat();
  return fc.oneof(
    fc.record({ op: fc.constant('set' as const), at, value: hostileValue() }),
    fc.record({ op: fc.constant('delete' as const), at }),
    fc.record({
      op: fc.constant('add' as const),
      at,
      key: fc.constantFrom('port', 'name', 'protocol', 'clusterIPs', 'ipFamilies', 'nodePort', 'ready', 'x'),
      value: hostileValue(),
    }),
  );
}

/**
 * Applies a mutation to a deep copy of an object.
 *
 * @param object the object (not changed)
 * @param m the mutation
 * @param keep paths (joined with `.`) whose value and ancestors must not change, e.g. `metadata.name`
 * @returns the mutated copy (the object itself when no path may change)
 * @example applyMutation(service, { op: 'delete', at: 3 }, ['kind', 'metadata.name'])
 */
export function applyMutation(
  object: Record<string, unknown>,
  m: Mutation,
  keep: readonly string[] = [],
): Record<string, unknown> {
  const copy = structuredClone(object);
  const protectedPath = (p: readonly (string | number)[]) => {
    const text = p.join('.');
    return keep.some((k) => k === text || k.startsWith(`${text}.`));
  };
  const paths = valuePaths(copy).filter((p) => !protectedPath(p));
  const path = paths[m.at % Math.max(1, paths.length)];
  if (path === undefined) return copy;
  let parent: unknown = copy;
  for (const step of path.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[step];
  const last = path.at(-1)!;
  const container = parent as Record<string | number, unknown>;
  switch (m.op) {
    case 'set':
      container[last] = structuredClone(m.value);
      break;
    case 'delete':
      if (Array.isArray(container)) container.splice(last as number, 1);
      else delete container[last];
      break;
    case 'add': {
      const target = container[last];
      if (typeof target === 'object' && target !== null && !Array.isArray(target) && !(m.key in target)) {
        (target as Record<string, unknown>)[m.key] = structuredClone(m.value);
      } else {
        container[last] = structuredClone(m.value);
      }
      break;
    }
    default: {
      const never: never = m;
      throw new Error(`Unknown mutation: ${JSON.stringify(never)}`);
    }
  }
  return copy;
}

/** Builds a service's ports as the tracker does (`buildServicePorts` of src/tracker, passed in by the test). */
export type ServicePortBuilder = (
  service: ServiceSpec,
  slices: readonly EndpointSliceSpec[],
  nodeName: string,
) => ServicePortState[];

/**
 * A valid proxy state for node-a: a generated cluster, validated, folded by the tracker's own builder.
 *
 * @param build the tracker's `buildServicePorts` (the model layer may not import the tracker)
 * @param options at most this many services (default 6)
 * @returns the arbitrary
 * @example fc.sample(arbProxyState(buildServicePorts), 1)[0]!.servicePorts.size
 */
export function arbProxyState(
  build: ServicePortBuilder,
  options: { maxServices?: number } = {},
): fc.Arbitrary<ProxyState> {
  return arbSpecCluster(options).map(({ services, slices }) => {
    const ports = services.flatMap((s) =>
      build(
        s,
        slices.filter((x) => x.namespace === s.namespace && x.serviceName === s.name),
        ARB_NODE_NAME,
      ),
    );
    ports.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { version: 1, nodeName: ARB_NODE_NAME, servicePorts: new Map(ports.map((p) => [p.key, p])) };
  });
}

/** An external client inside the generated source ranges (198.19.200.0/25). */
export const ARB_ALLOWED_CLIENT = '198.19.200.2';
/** An external client outside most source ranges. */
export const ARB_OTHER_CLIENT = '198.19.200.200';
/** A pod that is no endpoint. */
export const ARB_POD_CLIENT = '198.18.65.2';

/**
 * A first packet towards a state's addresses: to a cluster, external or load-balancer IP, or to the node
 * (node ports, health-check node ports), on one of the state's ports or another, from a pod, an endpoint
 * (hairpin), the node itself or an external client.
 *
 * @param state the state the packet is for
 * @returns the arbitrary
 * @example fc.sample(arbPacket(state), 1)[0]
 */
export function arbPacket(state: ProxyState): fc.Arbitrary<TracePacket> {
  const ports = [...state.servicePorts.values()];
  const vips = [
    ...new Set(ports.flatMap((p) => [...p.clusterIPs, ...p.externalIPs, ...p.loadBalancerIPs])),
    '198.18.128.250',
  ];
  const nodePorts = ports.flatMap((p) => [p.nodePort, p.healthCheckNodePort]).filter((n) => n !== 0);
  const servicePortNumbers = ports.map((p) => p.port);
  const endpoints = [...new Set(ports.flatMap((p) => p.allEndpoints.map((e) => e.ip)))];
  const source = fc.constantFrom(
    ARB_POD_CLIENT,
    ARB_NODE_IP,
    '127.0.0.1',
    ARB_ALLOWED_CLIENT,
    ARB_OTHER_CLIENT,
    ...endpoints,
  );
  const anyPort = fc.integer({ min: 1, max: 65535 });
  const toVip = fc.record({
    destination: fc.constantFrom(...vips),
    port: servicePortNumbers.length > 0 ? fc.oneof(fc.constantFrom(...servicePortNumbers), anyPort) : anyPort,
  });
  const toNode = fc.record({
    destination: fc.constantFrom(ARB_NODE_IP, '127.0.0.1'),
    port: nodePorts.length > 0 ? fc.oneof(fc.constantFrom(...nodePorts), anyPort) : anyPort,
  });
  return fc
    .tuple(
      source,
      fc.oneof({ arbitrary: toVip, weight: 3 }, { arbitrary: toNode, weight: 1 }),
      fc.constantFrom('TCP' as const, 'UDP' as const, 'SCTP' as const),
    )
    .map(([src, to, protocol]) => {
      // Only the node itself can send to 127.0.0.1 (from outside, the kernel drops it as a martian).
      const local = src === ARB_NODE_IP || src === '127.0.0.1';
      const destination = to.destination === '127.0.0.1' && !local ? ARB_NODE_IP : to.destination;
      return { source: src, destination, port: to.port, protocol };
    });
}

/**
 * Plan options for the property tests: this node ({@link ARB_NODE_IP}) and cluster CIDR
 * ({@link ARB_CLUSTER_CIDR}), with or without `--masquerade-all` and `--nodeport-addresses`, and one of
 * `schedulers` as the ipvs scheduler when given.
 *
 * @param options `schedulers`: ipvs schedulers to pick from
 * @returns the options
 * @example fc.sample(arbPlanOptions(), 1)[0]!.nodeIPs // ['198.18.0.100']
 */
export function arbPlanOptions(options: { schedulers?: readonly string[] } = {}): fc.Arbitrary<PlanOptions> {
  const schedulers = options.schedulers ?? [];
  return fc
    .record({
      masqueradeAll: fc.boolean(),
      nodePortAddresses: fc.constantFrom<string[]>([], ['198.18.0.100/32']),
      scheduler: schedulers.length === 0 ? fc.constant(undefined) : fc.constantFrom(...schedulers),
    })
    .map(({ scheduler, ...o }) =>
      planOptions({
        nodeIPs: [ARB_NODE_IP],
        clusterCIDRs: [ARB_CLUSTER_CIDR],
        ...o,
        ...(scheduler === undefined ? {} : { ipvsScheduler: scheduler }),
      }),
    );
}
