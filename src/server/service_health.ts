/**
 * Per-service health checks on `healthCheckNodePort`, for `externalTrafficPolicy: Local` services: what
 * cloud load balancers probe to learn which nodes have endpoints of the service (upstream
 * `pkg/proxy/healthcheck/service_health.go`). One listener per service (per bind address); 200 with the
 * number of local endpoints while there is at least one and the proxy is healthy, 503 otherwise.
 *
 * @module
 */
import { createServer } from 'node:http';
import { isIP } from 'node:net';
import { BindAddressError, type ListenError, listenHttp, type RunningServer } from './http_listen.ts';
import type { ServiceHealthKey, ServiceHealthTarget } from './service_health_targets.ts';

/** Options of {@link ServiceHealthServer}. */
export interface ServiceHealthServerOptions {
  /**
   * IP addresses to listen on (the node IPs matching `--nodeport-addresses`); undefined = every address,
   * as upstream does when `--nodeport-addresses` is unset.
   */
  readonly bindAddresses?: readonly string[] | undefined;
  /** Whether the proxy itself keeps up (`() => health.health().healthy`); false turns every check 503. */
  readonly proxyHealthy: () => boolean;
  /** Closes every listener when aborted. */
  readonly signal?: AbortSignal | undefined;
  /** Errors of a listener after it opened (log them); dropped when unset. */
  readonly onError?: ((error: Error, key: ServiceHealthKey) => void) | undefined;
}

/** A health-check listener that could not be opened (it is retried on the next sync). */
export interface ServiceHealthFailure {
  readonly key: ServiceHealthKey;
  readonly port: number;
  readonly error: ListenError;
}

/** What one {@link ServiceHealthServer.sync} changed, keys sorted. */
export interface ServiceHealthSyncResult {
  readonly opened: readonly ServiceHealthKey[];
  readonly closed: readonly ServiceHealthKey[];
  readonly failed: readonly ServiceHealthFailure[];
}

/** The JSON body of a health-check answer (upstream's shape). */
export interface ServiceHealthBody {
  readonly service: { readonly namespace: string; readonly name: string };
  readonly localEndpoints: number;
  readonly serviceProxyHealthy: boolean;
}

interface Listener {
  readonly namespace: string;
  readonly name: string;
  readonly requestedPort: number;
  localEndpoints: number;
  servers: RunningServer[];
}

/**
 * Opens, updates and closes the per-service health-check listeners.
 *
 * @example
 * const serviceHealth = new ServiceHealthServer({ proxyHealthy: () => health.health().healthy, signal });
 * const result = await serviceHealth.sync(serviceHealthTargets(state));
 * for (const f of result.failed) logger.warn({ service: f.key, port: f.port, err: f.error }, 'Health check not served');
 */
export class ServiceHealthServer {
  readonly #hosts: readonly (string | undefined)[];
  readonly #proxyHealthy: () => boolean;
  readonly #onError: ((error: Error, key: ServiceHealthKey) => void) | undefined;
  readonly #listeners = new Map<ServiceHealthKey, Listener>();
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  /**
   * @param options bind addresses, proxy health, stop signal
   * @throws {BindAddressError} when a bind address is not an IP address
   */
  constructor(options: ServiceHealthServerOptions) {
    for (const host of options.bindAddresses ?? []) {
      if (isIP(host) === 0) throw new BindAddressError(host, 'not an IP address');
    }
    this.#hosts = options.bindAddresses === undefined ? [undefined] : [...options.bindAddresses];
    this.#proxyHealthy = options.proxyHealthy;
    this.#onError = options.onError;
    options.signal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  /**
   * Makes `targets` the set of served health checks: opens listeners for new services, closes those of
   * services that are gone (or whose port changed), and updates local endpoint counts (at once, before
   * any listener work). Calls are applied in order. Never rejects: bind failures are reported.
   *
   * @param targets every service that needs a health check (see `serviceHealthTargets`)
   * @returns what was opened, closed, and could not be opened
   */
  sync(targets: ReadonlyMap<ServiceHealthKey, ServiceHealthTarget>): Promise<ServiceHealthSyncResult> {
    for (const [key, listener] of this.#listeners) {
      listener.localEndpoints = targets.get(key)?.localEndpoints ?? 0;
    }
    const run = this.#queue.then(() => this.#apply(targets));
    this.#queue = run;
    return run;
  }

  /**
   * The port a service's check listens on (the real one when 0 was asked for).
   *
   * @param key `namespace/name`
   * @returns the port, or undefined when the service has no open listener
   */
  boundPort(key: ServiceHealthKey): number | undefined {
    return this.#listeners.get(key)?.servers[0]?.address.port;
  }

  /** Closes every listener; later syncs do nothing. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
    const listeners = [...this.#listeners.values()];
    this.#listeners.clear();
    await Promise.all(listeners.map(closeListener));
  }

  async #apply(
    targets: ReadonlyMap<ServiceHealthKey, ServiceHealthTarget>,
  ): Promise<ServiceHealthSyncResult> {
    if (this.#closed) return { opened: [], closed: [], failed: [] };
    const closed: ServiceHealthKey[] = [];
    const closing: Promise<void>[] = [];
    for (const [key, listener] of this.#listeners) {
      const target = targets.get(key);
      if (target !== undefined && target.port === listener.requestedPort) {
        listener.localEndpoints = target.localEndpoints;
        continue;
      }
      this.#listeners.delete(key);
      closed.push(key);
      closing.push(closeListener(listener));
    }
    // Close first, so that a port moving from one service to another can be bound again.
    await Promise.all(closing);
    const opening: Promise<ServiceHealthFailure | undefined>[] = [];
    const tried: ServiceHealthKey[] = [];
    for (const [key, target] of targets) {
      if (this.#listeners.has(key)) continue;
      tried.push(key);
      opening.push(this.#open(key, target));
    }
    const failed = (await Promise.all(opening)).filter((f) => f !== undefined);
    return {
      opened: tried.filter((key) => this.#listeners.has(key)).sort(),
      closed: closed.sort(),
      failed: failed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    };
  }

  async #open(key: ServiceHealthKey, target: ServiceHealthTarget): Promise<ServiceHealthFailure | undefined> {
    const listener: Listener = {
      namespace: target.namespace,
      name: target.name,
      requestedPort: target.port,
      localEndpoints: target.localEndpoints,
      servers: [],
    };
    const proxyHealthy = this.#proxyHealthy;
    for (const host of this.#hosts) {
      const server = createServer((_request, response) => {
        const { status, body } = serviceHealthAnswer(listener, proxyHealthy());
        response
          .writeHead(status, {
            'Content-Type': 'application/json',
            'X-Content-Type-Options': 'nosniff',
            // Lets load balancers that support it weigh nodes by their local endpoints (upstream header).
            'X-Load-Balancing-Endpoint-Weight': String(body.localEndpoints),
          })
          .end(JSON.stringify(body));
      });
      try {
        const onError =
          this.#onError === undefined ? undefined : (error: Error) => this.#onError?.(error, key);
        listener.servers.push(await listenHttp(server, { host, port: target.port }, { onError }));
      } catch (error) {
        await closeListener(listener);
        return { key, port: target.port, error: error as ListenError };
      }
    }
    if (this.#closed) {
      await closeListener(listener);
      return undefined;
    }
    this.#listeners.set(key, listener);
    return undefined;
  }
}

/**
 * Computes one health-check answer: pure, for tests and for the handler.
 *
 * @param service the service and its local endpoint count
 * @param proxyHealthy whether the proxy keeps up
 * @returns 200 when there are local endpoints and the proxy is healthy, else 503; and the body
 * @example serviceHealthAnswer({ namespace: 'ns', name: 'web', localEndpoints: 2 }, true).status // 200
 */
export function serviceHealthAnswer(
  service: { readonly namespace: string; readonly name: string; readonly localEndpoints: number },
  proxyHealthy: boolean,
): { readonly status: 200 | 503; readonly body: ServiceHealthBody } {
  const body: ServiceHealthBody = {
    service: { namespace: service.namespace, name: service.name },
    localEndpoints: service.localEndpoints,
    serviceProxyHealthy: proxyHealthy,
  };
  return { status: service.localEndpoints > 0 && proxyHealthy ? 200 : 503, body };
}

async function closeListener(listener: Listener): Promise<void> {
  const servers = listener.servers;
  listener.servers = [];
  await Promise.all(servers.map((server) => server.close()));
}
