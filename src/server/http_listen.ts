/**
 * Binding kproxy's small HTTP servers (healthz, metrics, per-service health checks): parsing
 * `--healthz-bind-address`-style addresses, listening with a typed error, bounded timeouts, and closing
 * promptly (open keep-alive connections included) when asked or when a signal aborts.
 *
 * @module
 */
import type { Server } from 'node:http';
import { isIP } from 'node:net';
import { KproxyError } from '../contracts/errors.ts';

/** A parsed `host:port`; `host` undefined means every address (Node then listens dual-stack when it can). */
export interface BindAddress {
  readonly host: string | undefined;
  readonly port: number;
}

/** A bind address flag could not be parsed. */
export class BindAddressError extends KproxyError {
  override readonly name = 'BindAddressError';
  override readonly code = 'KPROXY_BIND_ADDRESS';
  constructor(
    readonly input: string,
    readonly reason: string,
  ) {
    super(`Invalid bind address ${JSON.stringify(input)}: ${reason}`);
  }
}

/** A server could not listen (address in use, address not on this host, permission denied, ...). */
export class ListenError extends KproxyError {
  override readonly name = 'ListenError';
  override readonly code = 'KPROXY_LISTEN';
  constructor(
    readonly address: BindAddress,
    options?: ErrorOptions,
  ) {
    const cause = options?.cause;
    const detail =
      cause instanceof Error ? ((cause as NodeJS.ErrnoException).code ?? cause.message) : String(cause);
    super(`Cannot listen on ${formatBindAddress(address)}: ${detail}`, options);
  }
}

/**
 * Parses `HOST:PORT`, `[IPV6]:PORT` or `:PORT` (every address). HOST must be an IP literal, as for
 * kube-proxy's `--healthz-bind-address` and `--metrics-bind-address`.
 *
 * @param input the flag value
 * @returns the host (undefined for every address) and port
 * @throws {BindAddressError} when the value is not an IP and a port in 0..65535
 * @example parseBindAddress('0.0.0.0:10256') // { host: '0.0.0.0', port: 10256 }
 */
export function parseBindAddress(input: string): BindAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(input);
  if (!match) throw new BindAddressError(input, 'expected HOST:PORT, [IPV6]:PORT or :PORT');
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  if (port > 65535) throw new BindAddressError(input, `port ${port} is out of range`);
  if (match[1] !== undefined && isIP(host) !== 6)
    throw new BindAddressError(input, `${host} is not an IPv6 address`);
  if (match[1] === undefined && host !== '' && isIP(host) !== 4) {
    throw new BindAddressError(input, `${host} is not an IPv4 address (write IPv6 as [ADDRESS]:PORT)`);
  }
  return { host: host === '' ? undefined : host, port };
}

/**
 * Formats a bind address for messages and logs.
 *
 * @param address the address
 * @returns `host:port`, `[v6]:port` or `*:port`
 * @example formatBindAddress({ host: '::1', port: 80 }) // '[::1]:80'
 */
export function formatBindAddress(address: BindAddress): string {
  if (address.host === undefined) return `*:${address.port}`;
  return isIP(address.host) === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** A listening server, as returned by `startHealthServer` and `startMetricsServer`. */
export interface RunningServer {
  /** Where it actually listens (the real port when 0 was asked for). */
  readonly address: BindAddress;
  /** Stops listening and drops open connections; resolves once closed. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Bounds that keep a slow or stuck client from holding a probe server's sockets: probes are tiny
 * requests, so seconds are generous.
 */
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** Options of {@link listenHttp}. */
export interface ListenOptions {
  /** Closes the server when aborted. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Errors after the server listens (e.g. EMFILE on accept). Without a handler they are dropped: an
   * unhandled `error` event would otherwise end the whole proxy because a probe port had a bad moment.
   */
  readonly onError?: ((error: Error) => void) | undefined;
}

/**
 * Makes `server` listen on `address`, with bounded request timeouts; closes it when the signal aborts.
 *
 * @param server a node:http server (not yet listening)
 * @param address where to listen
 * @param options stop signal, error handler
 * @returns the running server
 * @throws {ListenError} when the address cannot be bound; the signal's reason when it is already aborted
 * @example const running = await listenHttp(createServer(handler), parseBindAddress('127.0.0.1:0'))
 */
export async function listenHttp(
  server: Server,
  address: BindAddress,
  options: ListenOptions = {},
): Promise<RunningServer> {
  const { signal, onError } = options;
  signal?.throwIfAborted();
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    const onListenError = (error: Error): void => {
      reject(new ListenError(address, { cause: error }));
    };
    server.once('error', onListenError);
    const listenOptions =
      address.host === undefined ? { port: address.port } : { host: address.host, port: address.port };
    server.listen(listenOptions, () => {
      server.off('error', onListenError);
      resolve();
    });
  });
  server.on('error', (error: Error) => onError?.(error));
  const bound = server.address();
  const actual: BindAddress =
    bound !== null && typeof bound === 'object'
      ? { host: address.host === undefined ? undefined : bound.address, port: bound.port }
      : address;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      signal?.removeEventListener('abort', onAbort);
      // close() alone waits for idle keep-alive sockets; a probe server must stop at once.
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };
  const onAbort = (): void => {
    void close();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  return { address: actual, close };
}
