/**
 * The `net` engine of the TCP relay (see tcp_relay.ts for the behaviour every engine has): relays on
 * `net.Socket`, the fallback when Node's TCP handles cannot be used directly (tcp_handles.ts).
 *
 * Written for speed all the same: the client is accepted paused (`pauseOnConnect`), so nothing is read
 * before a backend is connected; handlers are shared module-level functions that find their state through
 * a symbol on the socket (no closures per connection); backend addresses are IPs (no DNS); Nagle is off on
 * both sides; `allowHalfOpen` on both sides relays half-closes; backpressure pauses the reading side when
 * the writing side's buffer is full and resumes it on `drain`.
 *
 * @module
 */
import { createServer, type Server, Socket } from 'node:net';
import { AttemptState, attemptFailed, ConnectDeadlines, noBackend } from './connect_attempts.ts';
import type { RelayHost, TcpRelayEngine } from './relay_engine.ts';

const BACKEND_SOCKET_OPTIONS = { allowHalfOpen: true } as const;

const CONN: unique symbol = Symbol('kproxy.relay.connection');
const PEER: unique symbol = Symbol('kproxy.relay.peer');
const ENGINE: unique symbol = Symbol('kproxy.relay.engine');

interface RelaySocket extends Socket {
  [CONN]: Connection;
  [PEER]: RelaySocket;
}

interface RelayServer extends Server {
  [ENGINE]: NetRelayEngine;
}

/** The state of one client connection. One object per connection; everything else is shared. */
class Connection extends AttemptState {
  backend: RelaySocket | undefined = undefined;
  /** Sockets of this connection not yet closed (2 once relaying). */
  open = 1;
  constructor(
    readonly engine: NetRelayEngine,
    readonly client: RelaySocket,
  ) {
    super();
  }
}

/** @internal The `net.Socket` engine. */
export class NetRelayEngine implements TcpRelayEngine {
  readonly host: RelayHost;
  readonly #server: RelayServer;
  /** Connections not yet fully closed. */
  readonly active = new Set<Connection>();
  readonly deadlines = new ConnectDeadlines<Connection>(expireAttempt);

  constructor(host: RelayHost) {
    this.host = host;
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }) as RelayServer;
    this.#server[ENGINE] = this;
    this.#server.on('connection', onAccept);
    this.#server.on('error', () => {
      /* accept errors (EMFILE...) are transient: libuv keeps the listener */
    });
  }

  listen(host: string, port: number): Promise<number> {
    const server = this.#server;
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      server.once('error', onError);
      // IPv6-only, as the handles engine binds (tcp_relay_handles.ts): `::` is the IPv6 Proxier's alone.
      server.listen({ host, port, backlog: 4096, exclusive: true, ipv6Only: host.includes(':') }, () => {
        server.off('error', onError);
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  get activeConnections(): number {
    return this.active.size;
  }

  get bufferedBytes(): number {
    let total = 0;
    for (const conn of this.active) {
      total += conn.client.writableLength + conn.client.readableLength;
      if (conn.backend !== undefined) total += conn.backend.writableLength + conn.backend.readableLength;
    }
    return total;
  }

  close(): void {
    if (this.#server.listening) this.#server.close();
  }

  /** Accounts for a connection whose last socket has closed (once per connection). */
  connectionDone(conn: Connection): void {
    if (conn.done) return;
    conn.done = true;
    this.active.delete(conn);
    const client = conn.client;
    this.host.metrics.connectionClosed(client.bytesRead, client.bytesWritten ?? 0);
    this.host.connectionEnded();
  }

  destroyConnections(): void {
    this.deadlines.stop();
    for (const conn of this.active) {
      conn.client.destroy();
      conn.backend?.destroy();
    }
  }
}

function onAccept(this: RelayServer, socket: Socket): void {
  const engine = this[ENGINE];
  const client = socket as RelaySocket;
  const conn = new Connection(engine, client);
  client[CONN] = conn;
  client.on('error', ignoreError);
  client.on('close', onClientClose);
  engine.host.counters.accepted++;
  engine.active.add(conn);
  engine.host.metrics.connectionOpened();
  startAttempt(conn);
}

function ignoreError(): void {
  /* every socket error is followed by 'close', where it is handled */
}

function startAttempt(conn: Connection): void {
  const host = conn.engine.host;
  const picker = host.picker;
  const backend = picker.pick(
    picker.usesClientIP === false ? '' : (conn.client.remoteAddress ?? ''),
    conn.attempt > 0,
  );
  if (backend === undefined) {
    noBackend(host);
    conn.client.destroy();
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
  conn.engine.deadlines.add(conn, host.timeouts[conn.attempt] ?? 0);
}

function expireAttempt(conn: Connection): void {
  conn.backend?.destroy();
  nextAttempt(conn);
}

function onBackendError(this: RelaySocket): void {
  const conn = this[CONN];
  // After the connect, errors end in 'close' (onRelayClose); before it, they are a failed attempt.
  if (conn.backend !== this || conn.connected) return;
  conn.engine.deadlines.delete(conn);
  this.destroy();
  nextAttempt(conn);
}

function nextAttempt(conn: Connection): void {
  conn.backend = undefined;
  // The client may have closed while its backend was being dialled.
  const next = attemptFailed(conn.engine.host, conn, conn.client.destroyed);
  if (next === 'retry') startAttempt(conn);
  else if (next === 'give-up') conn.client.destroy();
}

function onBackendConnect(this: RelaySocket): void {
  const conn = this[CONN];
  conn.engine.deadlines.delete(conn);
  const client = conn.client;
  if (conn.backend !== this || client.destroyed) {
    this.destroy();
    return;
  }
  conn.connected = true;
  conn.open = 2;
  conn.engine.host.counters.relayed++;
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
  conn.engine.deadlines.delete(conn);
  conn.backend?.destroy();
  conn.backend = undefined;
  conn.engine.connectionDone(conn);
}

function onRelayClose(this: RelaySocket, hadError: boolean): void {
  const peer = this[PEER];
  if (!peer.destroyed) {
    // A reset is passed on as a reset; a clean close means both directions already ended.
    if (hadError) peer.resetAndDestroy();
    else peer.end();
  }
  const conn = this[CONN];
  if (--conn.open === 0) conn.engine.connectionDone(conn);
}
