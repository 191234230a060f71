/**
 * The API server source: Services, EndpointSlices (or legacy Endpoints where slices are not served)
 * and this proxy's own Node, list-watched with the official client and turned into validated
 * {@link SourceEvent}s.
 *
 * What it selects, as upstream kube-proxy (`cmd/kube-proxy/app/server.go`):
 * - Services without the `service.kubernetes.io/service-proxy-name` label, and not headless
 *   (`spec.clusterIP!=None`);
 * - EndpointSlices without the `service.kubernetes.io/headless` label and, as the issue asks (upstream
 *   relies on the Service filter alone), without `service.kubernetes.io/service-proxy-name`;
 * - its own Node (`metadata.name=<node>`), validated and delivered as {@link NodeEvent}s to the
 *   `onNode` sink of {@link ProxySource.start}: zone and region labels, addresses, pod CIDRs, deletion
 *   and taints. A bad version is reported like any object and the last good one stays.
 *
 * A watched object maps to zero or more proxy objects (a Service to one, or none when the validator
 * skips it; a legacy Endpoints object to one slice per IP family). The source remembers what it emitted
 * per watched object, so that a later version, a delete or a re-list produces exactly the adds, updates
 * and deletes that follow. An invalid version is reported (`problem` event, Kubernetes Event) and the
 * last good version stays. `synced` is emitted once, when Services, endpoints and the Node have been listed
 * (so that the node's zone is known before the first sync, as upstream waits for its Node).
 *
 * @module
 */

import { isDeepStrictEqual } from 'node:util';
import { CoreV1Api, DiscoveryV1Api, EventsV1Api, type KubeConfig, Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ObjectProblem } from '../../model/problem.ts';
import { validateEndpointSlice, validateEndpoints } from '../../model/validate_endpoints.ts';
import { type NodeSpec, validateNode } from '../../model/validate_node.ts';
import { validateService } from '../../model/validate_service.ts';
import type { Validated } from '../../model/validated.ts';
import {
  type NodeEvent,
  type NodeSink,
  objectRef,
  type ProxyObject,
  type ProxyObjectRef,
  type ProxySource,
  refKey,
  type SourceEvent,
  type SourceSink,
  type SourceStartOptions,
} from '../source.ts';
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.ts';
import { type SourceClock, systemClock } from './clock.ts';
import { loadKubeConfig } from './kube_config.ts';
import {
  abortable,
  endpointSliceLister,
  endpointsLister,
  nodeLister,
  serviceLister,
} from './list_functions.ts';
import { ProblemEventRecorder, type RegardingObject } from './problem_event_recorder.ts';
import { type RawObject, Reflector, type ReflectorHandler } from './reflector.ts';
import { describeError, httpStatusOf } from './reflector_errors.ts';

/** Upstream's label for services (and their slices) that another proxy implements. */
export const SERVICE_PROXY_NAME_LABEL = 'service.kubernetes.io/service-proxy-name';
/** The label the EndpointSlice controller puts on slices of headless services. */
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';

/** Timings and limits; the defaults are client-go's. Tests shorten them. */
export interface ApiServerTuning {
  readonly backoff?: BackoffOptions | undefined;
  readonly random?: (() => number) | undefined;
  readonly pageSize?: number | undefined;
  readonly watchTimeoutSeconds?: number | undefined;
  readonly requestDeadlineMs?: number | undefined;
  readonly healthyWatchMs?: number | undefined;
  readonly eventBurst?: number | undefined;
  readonly eventRefillMs?: number | undefined;
  readonly eventDedupeMs?: number | undefined;
}

/** Options of {@link createApiServerSource}. */
export interface ApiServerSourceOptions {
  /** `--kubeconfig`. */
  readonly kubeconfigPath?: string | undefined;
  /** `--master` (overrides the kubeconfig's server). With neither, the in-cluster service account. */
  readonly master?: string | undefined;
  /** `--hostname-override`: the Node that is watched. */
  readonly nodeName: string;
  readonly logger: Logger;
  /** Time for event timestamps, backoff and deadlines (default: the real clock). */
  readonly clock?: SourceClock | undefined;
  /**
   * Record a Kubernetes Event (reason `FailedToProxy`) on objects that cannot be proxied (default
   * true). One-shot commands such as `kproxy rules` may turn it off to leave no trace in the cluster.
   */
  readonly recordEvents?: boolean | undefined;
  /** For in-cluster detection (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  readonly tuning?: ApiServerTuning | undefined;
}

/** A running API server source, with its readiness for health checks. */
export interface ApiServerSource extends ProxySource {
  /** True once Services, endpoints and the Node have been listed (stays true while the server is unreachable). */
  readonly synced: boolean;
  /** The node's last known addresses (empty until the Node has been read). */
  readonly nodeAddresses: readonly string[];
  /** Whether EndpointSlices are watched (true), legacy Endpoints (false), or not yet known (undefined). */
  readonly endpointSlicesServed: boolean | undefined;
}

/** The kinds of watched objects, and what their `regarding` reference in an Event says. */
type WatchedKind = 'Service' | 'EndpointSlice' | 'Endpoints' | 'Node';
const API_VERSION: Readonly<Record<WatchedKind, string>> = {
  Service: 'v1',
  Node: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Endpoints: 'v1',
};

/**
 * Creates a source that list-watches the API server. The kubeconfig is loaded now (so that a bad
 * `--kubeconfig` fails at once); nothing is requested before {@link ProxySource.start}.
 *
 * @param options where the API server is, the node, the logger, and optional clock/callbacks/tuning
 * @returns the source, not started
 * @throws KubeConfigError when the API server cannot be configured
 * @example
 * const source = createApiServerSource({ kubeconfigPath: 'kubeconfig', nodeName: 'node-1', logger });
 * await source.start((event) => tracker.handle(event), { onNode: (event) => daemon.applyNode(event) });
 */
export function createApiServerSource(options: ApiServerSourceOptions): ApiServerSource {
  const kubeConfig = loadKubeConfig(options);
  return new KubeApiServerSource(kubeConfig, options);
}

class KubeApiServerSource implements ApiServerSource {
  readonly #options: ApiServerSourceOptions;
  readonly #clock: SourceClock;
  readonly #log: Logger;
  readonly #core: CoreV1Api;
  readonly #discovery: DiscoveryV1Api;
  readonly #watch: Watch;
  readonly #recorder: ProblemEventRecorder;
  /** `Kind/namespace/name` of a watched object -> the proxy objects emitted for it, by refKey. */
  readonly #emitted = new Map<string, Map<string, ProxyObjectRef>>();
  #sink: SourceSink | undefined;
  #nodeSink: NodeSink | undefined;
  #stop: AbortController | undefined;
  #task: Promise<void> | undefined;
  #servicesSynced = false;
  #endpointsSynced = false;
  #nodeListed = false;
  #synced = false;
  /** The Node last delivered (undefined: not seen, or deleted). */
  #node: NodeSpec | undefined;
  #nodeAddresses: readonly string[] = [];
  #endpointSlicesServed: boolean | undefined;

  constructor(kubeConfig: KubeConfig, options: ApiServerSourceOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger;
    this.#core = kubeConfig.makeApiClient(CoreV1Api);
    this.#discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
    this.#watch = new Watch(kubeConfig);
    const tuning = options.tuning ?? {};
    this.#recorder = new ProblemEventRecorder({
      events: kubeConfig.makeApiClient(EventsV1Api),
      nodeName: options.nodeName,
      clock: this.#clock,
      logger: options.logger,
      burst: tuning.eventBurst,
      refillMs: tuning.eventRefillMs,
      dedupeMs: tuning.eventDedupeMs,
    });
  }

  get synced(): boolean {
    return this.#synced;
  }

  get nodeAddresses(): readonly string[] {
    return this.#nodeAddresses;
  }

  get endpointSlicesServed(): boolean | undefined {
    return this.#endpointSlicesServed;
  }

  async start(sink: SourceSink, options: SourceStartOptions = {}): Promise<void> {
    if (this.#stop !== undefined) throw new Error('The API server source is already started');
    this.#sink = sink;
    this.#nodeSink = options.onNode;
    const stop = new AbortController();
    this.#stop = stop;
    // #run retries everything itself; a rejection here would be a bug, logged rather than unhandled.
    this.#task = this.#run(stop.signal).catch((err: unknown) => {
      this.#log.error({ error: describeError(err) }, 'API server source failed');
    });
    this.#log.info({ server: this.#watch.config.getCurrentCluster()?.server }, 'Watching the API server');
  }

  async stop(): Promise<void> {
    this.#stop?.abort();
    await this.#task;
    // Give pending Event posts a moment, but never hang a shutdown on them.
    const grace = new AbortController();
    await Promise.race([this.#recorder.flush(), this.#clock.sleep(2000, grace.signal)]);
    grace.abort();
  }

  async #run(signal: AbortSignal): Promise<void> {
    const tuning = this.#options.tuning ?? {};
    const common = {
      watch: this.#watch,
      clock: this.#clock,
      logger: this.#log,
      pageSize: tuning.pageSize,
      backoff: tuning.backoff,
      random: tuning.random,
      watchTimeoutSeconds: tuning.watchTimeoutSeconds,
      requestDeadlineMs: tuning.requestDeadlineMs,
      healthyWatchMs: tuning.healthyWatchMs,
    };
    const services = new Reflector({
      ...common,
      resource: 'services',
      path: '/api/v1/services',
      labelSelector: `!${SERVICE_PROXY_NAME_LABEL}`,
      fieldSelector: 'spec.clusterIP!=None',
      list: serviceLister(this.#core, {
        labelSelector: `!${SERVICE_PROXY_NAME_LABEL}`,
        fieldSelector: 'spec.clusterIP!=None',
      }),
    });
    const nodeSelector = `metadata.name=${this.#options.nodeName}`;
    const node = new Reflector({
      ...common,
      resource: 'nodes',
      path: '/api/v1/nodes',
      fieldSelector: nodeSelector,
      list: nodeLister(this.#core, { fieldSelector: nodeSelector }),
    });
    const running = [
      services.run(
        this.#handler(
          'Service',
          (o) => wrap(validateService(o, undefined), (spec) => [{ kind: 'Service', spec }]),
          () => {
            this.#servicesSynced = true;
            this.#maybeSynced();
          },
        ),
        signal,
      ),
      node.run(this.#nodeHandler(), signal),
      this.#runEndpoints(common, signal),
    ];
    await Promise.all(running);
  }

  async #runEndpoints(
    common: Omit<ConstructorParameters<typeof Reflector>[0], 'resource' | 'path' | 'list'>,
    signal: AbortSignal,
  ): Promise<void> {
    const served = await this.#discoverEndpointSlices(signal);
    if (served === undefined) return;
    this.#endpointSlicesServed = served;
    const labelSelector = `!${HEADLESS_LABEL},!${SERVICE_PROXY_NAME_LABEL}`;
    const onSynced = (): void => {
      this.#endpointsSynced = true;
      this.#maybeSynced();
    };
    if (served) {
      const slices = new Reflector({
        ...common,
        resource: 'endpointslices',
        path: '/apis/discovery.k8s.io/v1/endpointslices',
        labelSelector,
        list: endpointSliceLister(this.#discovery, { labelSelector }),
      });
      const toObjects = (o: RawObject): Validated<ProxyObject[]> =>
        wrap(validateEndpointSlice(o, undefined), (spec) => [{ kind: 'EndpointSlice', spec }]);
      await slices.run(this.#handler('EndpointSlice', toObjects, onSynced), signal);
      return;
    }
    this.#log.warn('discovery.k8s.io/v1 EndpointSlices are not served; watching legacy core/v1 Endpoints');
    const endpoints = new Reflector({
      ...common,
      resource: 'endpoints',
      path: '/api/v1/endpoints',
      labelSelector,
      list: endpointsLister(this.#core, { labelSelector }),
    });
    const toObjects = (o: RawObject): Validated<ProxyObject[]> =>
      wrap(validateEndpoints(o, undefined), (specs) =>
        specs.map((spec) => ({ kind: 'EndpointSlice', spec }) as const),
      );
    await endpoints.run(this.#handler('Endpoints', toObjects, onSynced), signal);
  }

  /**
   * Asks discovery whether discovery.k8s.io/v1 serves endpointslices; retries with backoff on errors
   * other than 404 (a server that is down must not make us fall back to Endpoints).
   *
   * @returns the answer, or undefined when stopped first
   */
  async #discoverEndpointSlices(signal: AbortSignal): Promise<boolean | undefined> {
    const tuning = this.#options.tuning ?? {};
    const backoff = new Backoff(tuning.backoff ?? DEFAULT_BACKOFF, tuning.random);
    while (!signal.aborted) {
      try {
        const list = await this.#discovery.getAPIResources(abortable(signal));
        return list.resources.some((r) => r.name === 'endpointslices');
      } catch (err) {
        if (signal.aborted) return undefined;
        if (httpStatusOf(err) === 404) return false;
        const retryInMs = backoff.next();
        this.#log.warn({ error: describeError(err), retryInMs }, 'API discovery failed');
        await this.#clock.sleep(retryInMs, signal);
      }
    }
    return undefined;
  }

  #handler(
    kind: WatchedKind,
    toObjects: (o: RawObject) => Validated<ProxyObject[]>,
    onSynced: () => void,
  ): ReflectorHandler {
    return {
      onUpsert: (object, key) => {
        const result = toObjects(object);
        switch (result.ok) {
          case true:
            // Kept without the fields these name (a bad trafficDistribution or hint list).
            if (result.problems !== undefined) this.#report(kind, object, result.problems);
            this.#setObjects(`${kind}/${key}`, result.value);
            break;
          case 'skipped':
            this.#log.debug({ object: `${kind} ${key}`, reason: result.reason }, 'Not proxied');
            this.#setObjects(`${kind}/${key}`, []);
            break;
          case false:
            this.#report(kind, object, result.problems);
            break;
          default: {
            const never: never = result;
            throw new Error(`Unknown validation result: ${String(never)}`);
          }
        }
      },
      onDelete: (key) => this.#setObjects(`${kind}/${key}`, []),
      onSynced,
    };
  }

  #nodeHandler(): ReflectorHandler {
    const name = this.#options.nodeName;
    return {
      onUpsert: (object) => {
        const result = validateNode(object, undefined);
        if (result.ok !== true) {
          // A skip cannot happen for a Node; a bad version is reported and the last good one stays.
          if (result.ok === false) this.#report('Node', object, result.problems);
          return;
        }
        const node = result.value;
        // The kubelet updates its Node every few seconds (heartbeats): only what kproxy reads counts.
        if (this.#node !== undefined && isDeepStrictEqual(this.#node, node)) return;
        if (node.addresses.length === 0)
          this.#log.warn({ node: name }, 'The node has no InternalIP or ExternalIP address');
        if (node.addresses.join(',') !== this.#nodeAddresses.join(',') && node.addresses.length > 0) {
          this.#nodeAddresses = node.addresses;
          this.#log.info({ node: name, addresses: node.addresses }, 'Node addresses');
        }
        this.#node = node;
        this.#emitNode({ type: 'node', node, at: this.#clock.now() });
      },
      onDelete: () => {
        this.#log.warn({ node: name }, 'The node was deleted; keeping its last addresses');
        this.#node = undefined;
        this.#emitNode({ type: 'nodeDeleted', name, at: this.#clock.now() });
      },
      onSynced: () => {
        if (this.#node === undefined)
          this.#log.warn({ node: name }, 'Node not found (check --hostname-override)');
        this.#nodeListed = true;
        this.#maybeSynced();
      },
    };
  }

  /** Emits the adds, updates and deletes that take a watched object from what was emitted to `objects`. */
  #setObjects(watchedKey: string, objects: readonly ProxyObject[]): void {
    const at = this.#clock.now();
    const before = this.#emitted.get(watchedKey);
    const after = new Map<string, ProxyObjectRef>();
    for (const object of objects) {
      const ref = objectRef(object);
      const key = refKey(ref);
      after.set(key, ref);
      this.#emit({ type: before?.has(key) ? 'update' : 'add', object, at });
    }
    for (const [key, ref] of before ?? []) {
      if (!after.has(key)) this.#emit({ type: 'delete', ref, at });
    }
    if (after.size > 0) this.#emitted.set(watchedKey, after);
    else this.#emitted.delete(watchedKey);
  }

  /** Reports an invalid object; its last good version (if any) stays. */
  #report(kind: WatchedKind, object: RawObject, problems: readonly ObjectProblem[]): void {
    for (const problem of problems) this.#emit({ type: 'problem', problem });
    const metadata = (object.metadata ?? {}) as Record<string, unknown>;
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    const regarding: RegardingObject = {
      apiVersion: API_VERSION[kind],
      kind,
      namespace: str(metadata.namespace) ?? 'default',
      name: str(metadata.name) ?? '',
      uid: str(metadata.uid),
      resourceVersion: str(metadata.resourceVersion),
    };
    if (regarding.name !== '' && this.#options.recordEvents !== false)
      this.#recorder.record(regarding, problems);
  }

  #maybeSynced(): void {
    if (this.#synced || !this.#servicesSynced || !this.#endpointsSynced || !this.#nodeListed) return;
    this.#synced = true;
    this.#log.info('Services, endpoints and the Node listed: caches synced');
    this.#emit({ type: 'synced' });
  }

  #emitNode(event: NodeEvent): void {
    if (this.#nodeSink === undefined || this.#stop === undefined || this.#stop.signal.aborted) return;
    try {
      this.#nodeSink(event);
    } catch (err) {
      this.#log.error({ error: describeError(err), event: event.type }, 'Node sink threw');
    }
  }

  #emit(event: SourceEvent): void {
    if (this.#sink === undefined || this.#stop === undefined || this.#stop.signal.aborted) return;
    try {
      this.#sink(event);
    } catch (err) {
      this.#log.error({ error: describeError(err), event: event.type }, 'Source sink threw');
    }
  }
}

/** Maps the value of a successful validation, passing skips and problems through. */
function wrap<T, U>(result: Validated<T>, map: (value: T) => U): Validated<U> {
  // A spread keeps the problems of an object kept without its bad optional fields.
  return result.ok === true ? { ...result, value: map(result.value) } : result;
}
