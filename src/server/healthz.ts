/**
 * The proxy health server on `--healthz-bind-address` (default 0.0.0.0:10256): `/healthz` (proxy health
 * and node eligibility, what load balancers and kubelet probes use) and `/livez` (proxy health only), with
 * kube-proxy's JSON bodies and status codes.
 *
 * Answering while a sync runs: Node has one event loop, so these handlers (O(1), no I/O) answer as soon as
 * the loop is free. The daemon's syncs await child processes (iptables-restore, ipvsadm, ...), which frees
 * the loop; only the synchronous planning step holds it (tens of ms for 10k services), far below probe
 * timeouts (kubelet's default is 1 s). A worker thread would only be needed if a synchronous step grew to
 * hundreds of ms; the metric `nodejs_eventloop_lag_seconds` (default metrics) shows if that happens.
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { HealthEndpoint, HealthProbeCounter } from '../contracts/health.ts';
import type { HealthState, ProxyHealth } from './health_state.ts';
import { listenHttp, parseBindAddress, type RunningServer } from './http_listen.ts';

/** The JSON body of `/healthz` and `/livez`. */
export interface HealthzBody {
  /** Last successful sync; the current time while healthy (upstream's compatibility rule). */
  readonly lastUpdated: string;
  readonly currentTime: string;
  /** `/healthz` only. */
  readonly nodeEligible?: boolean;
  readonly healthy: boolean;
}

/** Go's zero time, which upstream prints for "never synced". */
const ZERO_TIME = '0001-01-01T00:00:00.000Z';

/**
 * Computes the answer of one probe endpoint: pure, so the status rules are testable without sockets.
 *
 * @param endpoint `healthz` (includes node eligibility) or `livez`
 * @param health the proxy's health now
 * @param nodeEligible whether the node should receive load-balancer traffic
 * @returns the status code and body
 * @example healthzAnswer('livez', state.health(), state.nodeEligible).status // 200 or 503
 */
export function healthzAnswer(
  endpoint: HealthEndpoint,
  health: ProxyHealth,
  nodeEligible: boolean,
): { readonly status: 200 | 503; readonly body: HealthzBody } {
  const healthy = endpoint === 'healthz' ? health.healthy && nodeEligible : health.healthy;
  const currentTime = new Date(health.currentTime).toISOString();
  // Older kube-proxy reported the last loop run even when nothing changed; upstream keeps "recent while
  // healthy" for clients that compare lastUpdated with currentTime.
  const lastUpdated = healthy
    ? currentTime
    : health.lastUpdated === undefined
      ? ZERO_TIME
      : new Date(health.lastUpdated).toISOString();
  const body: HealthzBody =
    endpoint === 'healthz'
      ? { lastUpdated, currentTime, nodeEligible, healthy: health.healthy }
      : { lastUpdated, currentTime, healthy: health.healthy };
  return { status: healthy ? 200 : 503, body };
}

/** Options of {@link startHealthServer}. */
export interface HealthServerOptions {
  /** `HOST:PORT`, `[IPV6]:PORT` or `:PORT` (`--healthz-bind-address`). */
  readonly bindAddress: string;
  readonly health: HealthState;
  /** Counts answers per endpoint and status code. */
  readonly metrics?: HealthProbeCounter | undefined;
  /** Closes the server when aborted. */
  readonly signal?: AbortSignal | undefined;
  /** Errors after the server listens (log them); dropped when unset. */
  readonly onError?: ((error: Error) => void) | undefined;
}

/**
 * Starts the `/healthz` + `/livez` server. Other paths answer 404.
 *
 * @param options bind address, health state, probe counter, stop signal
 * @returns the running server (its real address, and `close()`)
 * @throws {BindAddressError} for a malformed address; {@link ListenError} when it cannot be bound
 * @example const server = await startHealthServer({ bindAddress: '0.0.0.0:10256', health, signal })
 */
export async function startHealthServer(options: HealthServerOptions): Promise<RunningServer> {
  const address = parseBindAddress(options.bindAddress);
  const { health, metrics } = options;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const endpoint = probeEndpoint(request.url);
    if (endpoint === undefined) {
      response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    const { status, body } = healthzAnswer(endpoint, health.health(), health.nodeEligible);
    metrics?.healthProbe(endpoint, status);
    response
      .writeHead(status, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' })
      .end(JSON.stringify(body));
  });
  return listenHttp(server, address, { signal: options.signal, onError: options.onError });
}

function probeEndpoint(url: string | undefined): HealthEndpoint | undefined {
  const path = (url ?? '/').split('?', 1)[0];
  if (path === '/healthz') return 'healthz';
  if (path === '/livez') return 'livez';
  return undefined;
}
