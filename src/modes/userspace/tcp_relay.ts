/**
 * The TCP half of the userspace relay: one listening socket, and for every accepted client a connection
 * to a backend picked by the balancer, then bytes both ways until both sides are done.
 *
 * The connection path is the hot path, so it is written for speed: the client is accepted paused
 * (`pauseOnConnect`), so nothing is read before a backend is connected and a retry never has to replay
 * data; handlers are shared module-level functions that find their state through a symbol on the socket
 * (no closures per connection); backend addresses are IPs (no DNS); Nagle is off on both sides; the accept
 * backlog is large.
 *
 * Retries: a backend that refuses, errors or does not complete the connect within the attempt's timeout
 * (250 ms, 500 ms, 1 s, 2 s by default) is dropped and the next one tried (the client's affinity is reset,
 * so it moves on); only when every attempt failed is the client's connection closed.
 *
 * Per connection: half-close is relayed (`allowHalfOpen` on both sides: a FIN is passed on, the other
 * direction keeps flowing); backpressure pauses the reading side when the writing side's buffer is full and
 * resumes it on `drain`, so a slow reader never makes the relay buffer more than about one high-water mark
 * per direction; an error (reset) on one side resets the other; nothing one connection does touches
 * another.
 *
 * Metrics: every accepted client is one connection of the service port's {@link RelayPortMetrics}
 * (opened at accept, closed with its byte counts when both sockets are closed); a failed attempt followed
 * by another is a dial retry, giving up (or having no backend at all) is a dial failure.
 *
 * Stopping: {@link TcpRelay.close} stops accepting at once; {@link TcpRelay.drained} resolves when the
 * connections already accepted have ended, and {@link TcpRelay.destroyConnections} ends those that are
 * still open when the caller's patience runs out.
 *
 * @module
 */
import { createServer, type Server, Socket } from 'node:net';
import { NOOP_RELAY_METRICS, type RelayPortMetrics } from '../../metrics/relay_metrics.ts';
import type { Backend } from './balancer.ts';

/** Picks backends (see Balancer). */
export interface BackendPicker {
  pick(clientIP: string, retry: boolean): Backend | undefined;
  /** False when picks ignore the client address (no affinity): the relay then skips getpeername. */
  readonly usesClientIP?: boolean | undefined;
}

/** Counters of one relay listener (monotonic, except `active`). */
export interface TcpRelayCounters {
  /** Client connections accepted. */
  accepted: number;
  /** Client connections relayed to a backend. */
  relayed: number;
  /** Client connections closed because every attempt failed (or there was no backend). */
  failed: number;
  /** Backend connect attempts that failed and were retried or given up. */
  failedAttempts: number;
}

/** Options of a {@link TcpRelay}. */
export interface TcpRelayOptions {
  /** Connect timeout of each attempt; its length is the number of attempts. Default 250, 500, 1000, 2000. */
  readonly connectTimeoutsMs?: readonly number[] | undefined;
  /** The service port's counters (default: none). */
  readonly metrics?: RelayPortMetrics | undefined;
}

/** Upstream's userspace proxier used these (EndpointDialTimeouts). */
export const DEFAULT_CONNECT_TIMEOUTS_MS: readonly number[] = [250, 500, 1000, 2000];

/** Granularity of connect timeouts. */
const SWEEP_MS = 20;

const BACKEND_SOCKET_OPTIONS = { allowHalfOpen: true } as const;

const CONN: unique symbol = Symbol('kproxy.relay.connection');
const PEER: unique symbol = Symbol('kproxy.relay.peer');
const RELAY: unique symbol = Symbol('kproxy.relay');

interface RelaySocket extends Socket {
  [CONN]: Connection;
  [PEER]: RelaySocket;
}

interface RelayServer extends Server {
  [RELAY]: TcpRelay;
}

/** The state of one client connection. One object per connection; everything else is shared. */
class Connection {
  backend: RelaySocket | undefined = undefined;
  attempt = 0;
  /** When the current connect attempt times out (performance.now() ms). */
  deadline = 0;
  connected = false;
  /** Sockets of this connection not yet closed (2 once relaying). */
  open = 1;
  /** Set once the connection is accounted as ended. */
  done = false;
  constructor(
    readonly relay: TcpRelay,
    readonly client: RelaySocket,
  ) {}
}

/**
 * A TCP relay listener.
 *
 * @example
 * const relay = new TcpRelay(balancer);
 * const port = await relay.listen('0.0.0.0', 0);
 * // ... later
 * await relay.close(); // stops accepting; relayed connections go on until they end
 */
export class TcpRelay {
  readonly counters: TcpRelayCounters = { accepted: 0, relayed: 0, failed: 0, failedAttempts: 0 };
  readonly timeouts: readonly number[];
  readonly picker: BackendPicker;
  /** @internal */
  readonly metrics: RelayPortMetrics;
  readonly #server: RelayServer;
  /** @internal connections not yet fully closed */
  readonly active = new Set<Connection>();
  /** @internal connections whose backend connect is in progress (checked by one shared timer) */
  readonly connecting = new Set<Connection>();
  #sweep: NodeJS.Timeout | undefined;
  /** Resolves {@link drained}'s promise once no connection is left. */
  #onDrained: (() => void) | undefined;
  #drained: Promise<void> | undefined;

  constructor(picker: BackendPicker, options: TcpRelayOptions = {}) {
    this.picker = picker;
    this.timeouts = options.connectTimeoutsMs ?? DEFAULT_CONNECT_TIMEOUTS_MS;
    this.metrics = options.metrics ?? NOOP_RELAY_METRICS.servicePort('');
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }) as RelayServer;
    this.#server[RELAY] = this;
    this.#server.on('connection', onAccept);
    this.#server.on('error', () => {
      /* accept errors (EMFILE...) are transient: libuv keeps the listener */
    });
  }

  /**
   * Starts listening.
   *
   * @param host the address to bind (`0.0.0.0` behind portal rules, or the VIP itself)
   * @param port the port, 0 for any free one
   * @returns the bound port
   */
  listen(host: string, port: number): Promise<number> {
    const server = this.#server;
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      server.once('error', onError);
      server.listen({ host, port, backlog: 4096, exclusive: true }, () => {
        server.off('error', onError);
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /** Connections accepted and not yet fully closed. */
  get activeConnections(): number {
    return this.active.size;
  }

  /**
   * Bytes the relay holds in user space for all its connections (both sockets' read and write buffers):
   * what backpressure keeps bounded.
   */
  get bufferedBytes(): number {
    let total = 0;
    for (const conn of this.active) {
      total += conn.client.writableLength + conn.client.readableLength;
      if (conn.backend !== undefined) total += conn.backend.writableLength + conn.backend.readableLength;
    }
    return total;
  }

  /** Stops accepting (the port is released at once); relayed connections continue until they end. */
  close(): Promise<void> {
    if (this.#server.listening) this.#server.close();
    return Promise.resolve();
  }

  /**
   * @internal Connect timeouts are checked by one timer per relay, armed while connects are in progress,
   * instead of one timer per connection: the granularity is {@link SWEEP_MS}.
   */
  armSweep(): void {
    if (this.#sweep !== undefined) return;
    this.#sweep = setInterval(sweepConnecting, SWEEP_MS, this);
    this.#sweep.unref();
  }

  /** @internal */
  stopSweep(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  /**
   * Waits until every connection accepted so far has ended (both sockets closed). Meant for after
   * {@link close}: while the relay still accepts, new connections may keep it from ever resolving.
   *
   * @returns a promise that resolves when no connection is left
   */
  drained(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    this.#drained ??= new Promise<void>((resolve) => {
      this.#onDrained = resolve;
    });
    return this.#drained;
  }

  /**
   * @internal Accounts for a connection that has ended: called once per connection, when its last socket
   * has closed.
   */
  connectionDone(conn: Connection): void {
    if (conn.done) return;
    conn.done = true;
    this.active.delete(conn);
    const client = conn.client;
    this.metrics.connectionClosed(client.bytesRead, client.bytesWritten ?? 0);
    if (this.active.size === 0 && this.#onDrained !== undefined) {
      const resolve = this.#onDrained;
      this.#onDrained = undefined;
      this.#drained = undefined;
      resolve();
    }
  }

  /**
   * Destroys every connection of this relay (at shutdown, once the grace period is over). They are
   * accounted as ended when their sockets' close events have run: await {@link drained} for that.
   */
  destroyConnections(): void {
    this.stopSweep();
    for (const conn of this.active) {
      conn.client.destroy();
      conn.backend?.destroy();
    }
  }
}

function onAccept(this: RelayServer, socket: Socket): void {
  const relay = this[RELAY];
  const client = socket as RelaySocket;
  const conn = new Connection(relay, client);
  client[CONN] = conn;
  client.on('error', ignoreError);
  client.on('close', onClientClose);
  relay.counters.accepted++;
  relay.active.add(conn);
  relay.metrics.connectionOpened();
  startAttempt(conn);
}

function ignoreError(): void {
  /* every socket error is followed by 'close', where it is handled */
}

function startAttempt(conn: Connection): void {
  const relay = conn.relay;
  const picker = relay.picker;
  const backend = picker.pick(
    picker.usesClientIP === false ? '' : (conn.client.remoteAddress ?? ''),
    conn.attempt > 0,
  );
  if (backend === undefined) {
    giveUp(conn);
    return;
  }
  const socket = new Socket(BACKEND_SOCKET_OPTIONS) as RelaySocket;
  socket[CONN] = conn;
  socket.setNoDelay(true);
  socket.on('error', onBackendError);
  // 'connect' fires once: a plain listener saves the wrapper that once() allocates per connection.
  socket.on('connect', onBackendConnect);
  conn.backend = socket;
  socket.connect(backend.port, backend.ip);
  conn.deadline = performance.now() + (relay.timeouts[conn.attempt] ?? 0);
  relay.connecting.add(conn);
  relay.armSweep();
}

function sweepConnecting(relay: TcpRelay): void {
  if (relay.connecting.size === 0) {
    relay.stopSweep();
    return;
  }
  const now = performance.now();
  for (const conn of relay.connecting) {
    if (now < conn.deadline) continue;
    relay.connecting.delete(conn);
    conn.backend?.destroy();
    nextAttempt(conn);
  }
}

function onBackendError(this: RelaySocket): void {
  const conn = this[CONN];
  // After the connect, errors end in 'close' (onRelayClose); before it, they are a failed attempt.
  if (conn.backend !== this || conn.connected) return;
  conn.relay.connecting.delete(conn);
  this.destroy();
  nextAttempt(conn);
}

function nextAttempt(conn: Connection): void {
  conn.relay.counters.failedAttempts++;
  conn.backend = undefined;
  conn.attempt++;
  if (conn.client.destroyed) return;
  if (conn.attempt >= conn.relay.timeouts.length) giveUp(conn);
  else {
    conn.relay.metrics.dialRetry();
    startAttempt(conn);
  }
}

function giveUp(conn: Connection): void {
  conn.relay.counters.failed++;
  conn.relay.metrics.dialFailure();
  conn.client.destroy();
}

function onBackendConnect(this: RelaySocket): void {
  const conn = this[CONN];
  conn.relay.connecting.delete(conn);
  const client = conn.client;
  if (conn.backend !== this || client.destroyed) {
    this.destroy();
    return;
  }
  conn.connected = true;
  conn.open = 2;
  conn.relay.counters.relayed++;
  client[PEER] = this;
  this[PEER] = client;
  this.on('close', onRelayClose);
  this.on('data', onData);
  client.on('data', onData);
  this.on('end', onEnd);
  client.on('end', onEnd);
  client.resume();
}

/**
 * Write-through with backpressure: when the peer's buffer is full, stop reading until it drains (the
 * drain listener is added only then: most connections never need one).
 */
function onData(this: RelaySocket, chunk: Buffer): void {
  const peer = this[PEER];
  if (!peer.write(chunk)) {
    this.pause();
    peer.once('drain', onDrain);
  }
}

function onDrain(this: RelaySocket): void {
  this[PEER].resume();
}

/**
 * A FIN from one side is passed on; the other direction keeps flowing (half-close). When the other side
 * has already sent its FIN and everything written to it has reached the kernel, both directions are over:
 * closing it at once passes the FIN on just the same (the kernel sends what it still holds, then FIN) and
 * saves a shutdown() and the stream's finish round.
 */
function onEnd(this: RelaySocket): void {
  const peer = this[PEER];
  if (peer.readableEnded && peer.writableLength === 0) peer.destroy();
  else peer.end();
}

function onClientClose(this: RelaySocket, hadError: boolean): void {
  const conn = this[CONN];
  if (conn.connected) {
    onRelayClose.call(this, hadError);
    return;
  }
  // Closed while a backend was being connected: abandon the attempt.
  conn.relay.connecting.delete(conn);
  conn.backend?.destroy();
  conn.backend = undefined;
  conn.relay.connectionDone(conn);
}

function onRelayClose(this: RelaySocket, hadError: boolean): void {
  const peer = this[PEER];
  if (!peer.destroyed) {
    // A reset is passed on as a reset; a clean close means both directions already ended.
    if (hadError) peer.resetAndDestroy();
    else peer.end();
  }
  const conn = this[CONN];
  if (--conn.open === 0) conn.relay.connectionDone(conn);
}
