/**
 * The Prometheus endpoint on `--metrics-bind-address` (default 127.0.0.1:10249): `/metrics` in the
 * registry's text format, `/healthz` answering `ok` while the process serves, `/proxyMode` with the mode's
 * name in plain text and `/configz` with the effective configuration as JSON (as kube-proxy's metrics port
 * does: `{"kubeproxy.config.k8s.io": {...}}`). Every other path is 404. Like the health server, it answers whenever the event loop is free;
 * rendering is proportional to the number of series (the userspace relay adds six per service port).
 *
 * @module
 */
import { createServer } from 'node:http';
import { listenHttp, parseBindAddress, type RunningServer } from './http_listen.ts';

/** What the metrics server serves; `ProxyMetrics` is one. */
export interface MetricsSource {
  metricsText(): Promise<string>;
  readonly contentType: string;
}

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** `HOST:PORT`, `[IPV6]:PORT` or `:PORT` (`--metrics-bind-address`). */
  readonly bindAddress: string;
  readonly metrics: MetricsSource;
  /** The mode `/proxyMode` names (e.g. `iptables`); unset: `/proxyMode` is 404. */
  readonly proxyMode?: string | undefined;
  /** The body of `/configz` (serialized as JSON on each request); unset: `/configz` is 404. */
  readonly configz?: (() => unknown) | undefined;
  /** Closes the server when aborted. */
  readonly signal?: AbortSignal | undefined;
  /** Errors after the server listens (log them); dropped when unset. */
  readonly onError?: ((error: Error) => void) | undefined;
}

/**
 * Starts the metrics server.
 *
 * @param options bind address, metrics, the mode and configuration to show, stop signal
 * @returns the running server (its real address, and `close()`)
 * @throws {BindAddressError} for a malformed address; {@link ListenError} when it cannot be bound
 * @example const server = await startMetricsServer({ bindAddress: '127.0.0.1:10249', metrics, signal })
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<RunningServer> {
  const address = parseBindAddress(options.bindAddress);
  const { metrics } = options;
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?', 1)[0];
    if (path === '/metrics') {
      metrics.metricsText().then(
        (text) => {
          response.writeHead(200, { 'Content-Type': metrics.contentType }).end(text);
        },
        (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          response
            .writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' })
            .end(`Cannot render metrics: ${message}\n`);
        },
      );
      return;
    }
    if (path === '/healthz') {
      response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('ok');
      return;
    }
    if (path === '/proxyMode' && options.proxyMode !== undefined) {
      response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end(options.proxyMode);
      return;
    }
    if (path === '/configz' && options.configz !== undefined) {
      response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(options.configz()));
      return;
    }
    response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
  });
  return listenHttp(server, address, { signal: options.signal, onError: options.onError });
}
