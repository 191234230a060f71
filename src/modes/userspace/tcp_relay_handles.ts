/**
 * The `handles` engine of the TCP relay (see tcp_relay.ts for the behaviour every engine has): relays on
 * Node's libuv TCP handles (tcp_handles.ts) with no stream layer in between.
 *
 * Per connection: the accepted client handle, one backend handle, one connect request, one
 * {@link Connection}; per chunk: one write request (none is kept when the kernel takes the chunk at once,
 * which is the common case). Handlers are module-level functions that find their state through symbols on
 * the handles (no closures per connection). A chunk is passed to the other side straight from the buffer
 * libuv read it into (no copy); when the kernel does not take it all at once the reading side stops reading
 * until the write completes, so each direction holds at most one read (64 KB) in user space.
 *
 * End of a connection: a FIN (UV_EOF) from one side is passed on with a shutdown once the writes before it
 * are done; when both sides have sent their FIN and nothing is left to write, both handles are closed (the
 * kernel sends any FIN still owed). Any other read or write error resets both sides (RST), like a reset
 * passed through a kernel proxy.
 *
 * @module
 */
import { getSystemErrorName } from 'node:util';
import { AttemptState, attemptFailed, ConnectDeadlines, noBackend } from './connect_attempts.ts';
import type { RelayHost, TcpRelayEngine } from './relay_engine.ts';
import type { ConnectReq, ShutdownReq, SockName, TcpHandle, TcpHandles, WriteReq } from './tcp_handles.ts';

const CONN: unique symbol = Symbol('kproxy.relay.connection');
const PEER: unique symbol = Symbol('kproxy.relay.peer');
const ENDED: unique symbol = Symbol('kproxy.relay.ended');
const ENGINE: unique symbol = Symbol('kproxy.relay.engine');
const SOURCE: unique symbol = Symbol('kproxy.relay.source');
const READ: unique symbol = Symbol('kproxy.relay.read');
const OWN: unique symbol = Symbol('kproxy.relay.buffer');

/**
 * A side that has sent this many bytes gets a read buffer of its own ({@link OWN_BUFFER_BYTES}): bulk
 * transfers then stop allocating one buffer per read (which costs allocations and garbage collections),
 * while the many short connections keep costing no memory when idle.
 */
const BULK_BYTES = 256 * 1024;
const OWN_BUFFER_BYTES = 64 * 1024;

/** A connected handle of a relayed connection. */
interface RelayHandle extends TcpHandle {
  [CONN]: Connection;
  [PEER]: RelayHandle;
  /** This side has sent its FIN (we read UV_EOF). */
  [ENDED]: boolean;
  /** Bytes read from this side while it read into buffers allocated per read. */
  [READ]: number;
  /**
   * This side's own read buffer, once it is a bulk sender. Safe to reuse: while a chunk from it is still
   * being written to the other side, this side does not read.
   */
  [OWN]: Buffer | undefined;
}

interface ServerHandle extends TcpHandle {
  [ENGINE]: HandleRelayEngine;
}

interface RelayConnectReq extends ConnectReq {
  [CONN]: Connection;
}

interface RelayWriteReq extends WriteReq {
  /** The handle the chunk was read from (reading resumes there when the write completes). */
  [SOURCE]: RelayHandle;
}

interface RelayShutdownReq extends ShutdownReq {
  [CONN]: Connection;
}

/** The state of one client connection. */
class Connection extends AttemptState {
  backend: RelayHandle | undefined = undefined;
  constructor(
    readonly engine: HandleRelayEngine,
    readonly client: RelayHandle,
  ) {
    super();
  }
}

/** A write request whose write completed at once, ready for the next write (one per process). */
let spareWriteReq: RelayWriteReq | undefined;

/** One scratch object for getsockname/getpeername (always read right after the call). */
const SOCKNAME: SockName = {};

/**
 * Options of Node's `bind6`: UV_TCP_IPV6ONLY. A proxy listener on `::` belongs to the IPv6 Proxier alone:
 * dual-stack, it would take the port of the IPv4 Proxier's `0.0.0.0` listener and accept its clients as
 * IPv4-mapped addresses.
 */
const BIND6_FLAGS = 1;

const BACKLOG = 4096;

function uvError(code: number, syscall: string, address: string, port: number): NodeJS.ErrnoException {
  const name = getSystemErrorName(code);
  const error: NodeJS.ErrnoException = new Error(`${syscall} ${name} ${address}:${port}`);
  error.code = name;
  error.errno = code;
  error.syscall = syscall;
  return error;
}

/** @internal The libuv-handle engine. */
export class HandleRelayEngine implements TcpRelayEngine {
  readonly host: RelayHost;
  readonly handles: TcpHandles;
  /** Connections not yet fully closed. */
  readonly active = new Set<Connection>();
  readonly deadlines = new ConnectDeadlines<Connection>(expireAttempt);
  /** Whether the listener has TCP_NODELAY, which accepted sockets inherit. */
  nodelayInherited = false;
  #server: ServerHandle | undefined;

  constructor(host: RelayHost, handles: TcpHandles) {
    this.host = host;
    this.handles = handles;
  }

  listen(host: string, port: number): Promise<number> {
    try {
      if (this.#server !== undefined) throw new Error('This relay is already listening');
      const server = this.handles.newServer() as ServerHandle;
      const v6 = host.includes(':');
      let syscall = 'bind';
      let err = v6 ? server.bind6(host, port, BIND6_FLAGS) : server.bind(host, port);
      // Accepted sockets inherit TCP_NODELAY from the listener (Linux clones the listener's socket): no
      // setsockopt per connection. Where that fails, onConnection sets it on each accepted socket.
      if (err === 0) this.nodelayInherited = server.setNoDelay(true) === 0;
      if (err === 0) {
        syscall = 'listen';
        err = server.listen(BACKLOG);
      }
      if (err !== 0) {
        server.close();
        throw uvError(err, syscall, host, port);
      }
      server[ENGINE] = this;
      server.onconnection = onConnection;
      this.#server = server;
      err = server.getsockname(SOCKNAME);
      return Promise.resolve(err === 0 && SOCKNAME.port !== undefined ? SOCKNAME.port : port);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  get activeConnections(): number {
    return this.active.size;
  }

  get bufferedBytes(): number {
    let total = 0;
    for (const conn of this.active) {
      total += conn.client.writeQueueSize;
      if (conn.backend !== undefined) total += conn.backend.writeQueueSize;
    }
    return total;
  }

  close(): void {
    if (this.#server === undefined) return;
    // libuv stops accepting at once: no onconnection runs after this.
    this.#server.close();
    this.#server = undefined;
  }

  destroyConnections(): void {
    this.deadlines.stop();
    for (const conn of [...this.active]) finish(conn);
  }
}

function onConnection(this: TcpHandle, status: number, handle: TcpHandle | undefined): void {
  // An accept error (EMFILE...) is transient: libuv keeps the listener.
  if (status < 0 || handle === undefined) return;
  const engine = (this as ServerHandle)[ENGINE];
  const client = handle as RelayHandle;
  if (!engine.nodelayInherited) client.setNoDelay(true);
  const conn = new Connection(engine, client);
  initSide(client, conn);
  engine.host.counters.accepted++;
  engine.active.add(conn);
  engine.host.metrics.connectionOpened();
  startAttempt(conn);
}

/** Gives one side's handle its relay state (always the same fields, in the same order). */
function initSide(handle: RelayHandle, conn: Connection): RelayHandle {
  handle[CONN] = conn;
  handle[ENDED] = false;
  handle[READ] = 0;
  handle[OWN] = undefined;
  return handle;
}

function clientAddress(conn: Connection): string {
  SOCKNAME.address = '';
  return conn.client.getpeername(SOCKNAME) === 0 ? (SOCKNAME.address ?? '') : '';
}

function startAttempt(conn: Connection): void {
  const engine = conn.engine;
  const picker = engine.host.picker;
  const target = picker.pick(picker.usesClientIP === false ? '' : clientAddress(conn), conn.attempt > 0);
  if (target === undefined) {
    noBackend(engine.host);
    finish(conn);
    return;
  }
  const backend = initSide(engine.handles.newSocket() as RelayHandle, conn);
  const req = engine.handles.newConnectReq() as RelayConnectReq;
  req[CONN] = conn;
  req.oncomplete = afterConnect;
  conn.backend = backend;
  const err = target.ip.includes(':')
    ? backend.connect6(req, target.ip, target.port)
    : backend.connect(req, target.ip, target.port);
  if (err !== 0) {
    // Refused before any packet (no route...): a failed attempt like any other.
    closeAttempt(conn);
    nextAttempt(conn);
    return;
  }
  // Reading starts with the connect: libuv reports no read before the connect's completion, and one
  // epoll registration for both saves the re-registration (ADD, EEXIST, MOD) that a read started after it
  // costs.
  backend[PEER] = conn.client;
  backend.onread = onRead;
  backend.readStart();
  engine.deadlines.add(conn, engine.host.timeouts[conn.attempt] ?? 0);
}

/** Drops the backend handle of an attempt that did not (or will not) connect. */
function closeAttempt(conn: Connection): void {
  conn.engine.deadlines.delete(conn);
  const backend = conn.backend;
  conn.backend = undefined;
  backend?.close();
}

function expireAttempt(conn: Connection): void {
  closeAttempt(conn);
  nextAttempt(conn);
}

function nextAttempt(conn: Connection): void {
  const next = attemptFailed(conn.engine.host, conn);
  if (next === 'retry') startAttempt(conn);
  else if (next === 'give-up') finish(conn);
}

function afterConnect(this: ConnectReq, status: number, handle: TcpHandle): void {
  const conn = (this as RelayConnectReq)[CONN];
  // A timed-out attempt whose handle was closed completes with ECANCELED: already counted.
  if (conn.backend !== handle) return;
  if (status < 0) {
    closeAttempt(conn);
    nextAttempt(conn);
    return;
  }
  conn.engine.deadlines.delete(conn);
  if (conn.done) {
    closeAttempt(conn);
    return;
  }
  const backend = conn.backend;
  const client = conn.client;
  conn.connected = true;
  conn.engine.host.counters.relayed++;
  backend.setNoDelay(true);
  client[PEER] = backend;
  client.onread = onRead;
  client.readStart();
}

/** A read on either side: pass the chunk on, the FIN on, or the error on as a reset. */
function onRead(this: TcpHandle, data: ArrayBuffer | undefined): void {
  const self = this as RelayHandle;
  const conn = self[CONN];
  const state = conn.engine.handles.state;
  const nread = state.readBytesOrError();
  if (nread > 0) {
    const peer = self[PEER];
    const own = self[OWN];
    let chunk: Uint8Array;
    if (own !== undefined) chunk = own.subarray(0, nread);
    else if (data !== undefined) {
      chunk = new Uint8Array(data, state.arrayBufferOffset(), nread);
      self[READ] += nread;
      if (self[READ] >= BULK_BYTES) {
        const buffer = Buffer.allocUnsafe(OWN_BUFFER_BYTES);
        self[OWN] = buffer;
        self.useUserBuffer(buffer);
      }
    } else return;
    // A write the kernel takes at once never touches its request object again: the next write reuses it.
    const req = spareWriteReq ?? (conn.engine.handles.newWriteReq() as RelayWriteReq);
    spareWriteReq = undefined;
    req.handle = peer;
    req.oncomplete = afterWrite;
    req.async = false;
    req.buffer = chunk;
    req[SOURCE] = self;
    if (peer.writeBuffer(req, chunk) !== 0) reset(conn);
    // Backpressure: the kernel did not take it all; read no more from this side until it has.
    else if (state.lastWriteWasAsync()) self.readStop();
    else {
      req.buffer = undefined;
      spareWriteReq = req;
    }
    return;
  }
  if (nread === 0) return;
  if (nread === conn.engine.handles.UV_EOF) {
    self[ENDED] = true;
    self.readStop();
    const peer = self[PEER];
    if (peer[ENDED] && peer.writeQueueSize === 0 && self.writeQueueSize === 0) {
      finish(conn);
      return;
    }
    const req = conn.engine.handles.newShutdownReq() as RelayShutdownReq;
    req.handle = peer;
    req.oncomplete = afterShutdown;
    req[CONN] = conn;
    if (peer.shutdown(req) !== 0) reset(conn);
    return;
  }
  reset(conn);
}

function afterWrite(this: WriteReq, status: number): void {
  const req = this as RelayWriteReq;
  const source = req[SOURCE];
  const conn = source[CONN];
  req.buffer = undefined;
  if (conn.done) return;
  if (status < 0) {
    reset(conn);
    return;
  }
  if (!source[ENDED]) source.readStart();
}

function afterShutdown(this: ShutdownReq, status: number): void {
  const conn = (this as RelayShutdownReq)[CONN];
  if (conn.done) return;
  if (status < 0) {
    reset(conn);
    return;
  }
  const client = conn.client;
  const backend = conn.backend;
  if (backend === undefined) return;
  if (client[ENDED] && backend[ENDED] && client.writeQueueSize === 0 && backend.writeQueueSize === 0) {
    finish(conn);
  }
}

/** Both directions are over (or the connection is given up): close what is open and account for it. */
function finish(conn: Connection): void {
  end(conn, false);
}

/** A side failed: reset both (RST), so each peer learns it as it would through a kernel proxy. */
function reset(conn: Connection): void {
  end(conn, true);
}

/** Closes (or resets) both sides, once, and accounts for the connection. */
function end(conn: Connection, withReset: boolean): void {
  if (conn.done) return;
  conn.done = true;
  const client = conn.client;
  const bytesIn = client.bytesRead;
  const bytesOut = client.bytesWritten;
  // reset() fails while a shutdown is pending on the handle: a plain close then.
  if (!withReset || client.reset() !== 0) client.close();
  const backend = conn.backend;
  if (!conn.connected) closeAttempt(conn);
  else if (backend !== undefined && (!withReset || backend.reset() !== 0)) backend.close();
  const engine = conn.engine;
  engine.deadlines.delete(conn);
  engine.active.delete(conn);
  engine.host.metrics.connectionClosed(bytesIn, bytesOut);
  engine.host.connectionEnded();
}
