/**
 * Node's own libuv TCP handles, the layer under `net.Socket`: what the fast TCP relay engine
 * (tcp_relay_handles.ts) is written against.
 *
 * Why: a relayed connection needs no stream machinery at all (no Readable/Writable state, no events, no
 * per-socket closures): accept, connect, read a chunk, write it to the other side, pass the FIN on, close.
 * `net.Socket` costs about 90 µs of CPU per connection on top of what the kernel costs; these handles are
 * what it wraps, and relaying on them directly roughly halves kproxy's CPU per new connection (see
 * docs/benchmarks and the userspace section of the README).
 *
 * They are Node internals (`process.binding('tcp_wrap')` and `'stream_wrap'`, allowed but undocumented),
 * so this module checks their shape once and returns `undefined` when anything is missing or different;
 * the relay then falls back to its `net.Socket` engine (tcp_relay_net.ts). Both engines pass the same
 * tests (tcp_relay_test.ts runs every case on each).
 *
 * @module
 */

/** `getsockname`/`getpeername` fill one of these. */
export interface SockName {
  address?: string;
  port?: number;
  family?: string;
}

/** A connect request: `oncomplete(status, handle, req, readable, writable)` when the connect ends. */
export interface ConnectReq {
  oncomplete: (this: ConnectReq, status: number, handle: TcpHandle, req: ConnectReq) => void;
}

/**
 * A write request. `oncomplete` runs only for a write the kernel did not take at once
 * ({@link StreamState.lastWriteWasAsync}); `buffer` keeps the bytes alive until then.
 */
export interface WriteReq {
  handle: TcpHandle;
  oncomplete: (this: WriteReq, status: number) => void;
  async: boolean;
  buffer: Uint8Array | undefined;
}

/** A shutdown (FIN) request; libuv runs it once the writes queued before it are done. */
export interface ShutdownReq {
  handle: TcpHandle;
  oncomplete: (this: ShutdownReq, status: number) => void;
}

/** One libuv TCP handle (a listening or a connected socket). Methods return 0 or a negative libuv error. */
export interface TcpHandle {
  /** Called with the handle as `this`; the byte count (or error) is in {@link StreamState}. */
  onread: ((this: TcpHandle, data: ArrayBuffer | undefined) => void) | null;
  /** A listening handle's accept callback: `status` < 0 is an accept error (EMFILE...). */
  onconnection: ((this: TcpHandle, status: number, client: TcpHandle | undefined) => void) | null;
  bind(ip: string, port: number): number;
  bind6(ip: string, port: number, flags: number): number;
  listen(backlog: number): number;
  connect(req: ConnectReq, ip: string, port: number): number;
  connect6(req: ConnectReq, ip: string, port: number): number;
  getsockname(out: SockName): number;
  getpeername(out: SockName): number;
  setNoDelay(enable: boolean): number;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  /**
   * From now on, reads go into this buffer (then `onread` gets no ArrayBuffer: the bytes are at its
   * start). Call once per handle.
   */
  useUserBuffer(buffer: Uint8Array): void;
  shutdown(req: ShutdownReq): number;
  /** Closes with a RST (SO_LINGER 0); fails while a shutdown is pending. */
  reset(): number;
  close(): void;
  /** Bytes handed to libuv and not yet to the kernel. */
  readonly writeQueueSize: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/** The shared state cells a read or write reports through (`streamBaseState`). */
export interface StreamState {
  /** After a read callback: bytes read, 0, or a negative libuv error (UV_EOF at end of stream). */
  readonly readBytesOrError: () => number;
  /** After a read callback: where the bytes start in the ArrayBuffer passed to `onread`. */
  readonly arrayBufferOffset: () => number;
  /** After `writeBuffer`: 1 if the kernel did not take everything at once (oncomplete will follow). */
  readonly lastWriteWasAsync: () => boolean;
}

/** Everything the handle engine needs. */
export interface TcpHandles {
  newServer(): TcpHandle;
  newSocket(): TcpHandle;
  newConnectReq(): ConnectReq;
  newWriteReq(): WriteReq;
  newShutdownReq(): ShutdownReq;
  readonly state: StreamState;
  /** libuv's end-of-stream code. */
  readonly UV_EOF: number;
}

/** `process.binding`, as far as this module uses it (injectable for tests). */
export type BindingLoader = (name: string) => unknown;

type Ctor<T> = new (...args: unknown[]) => T;

const TCP_METHODS = [
  'bind',
  'bind6',
  'listen',
  'connect',
  'connect6',
  'getsockname',
  'getpeername',
  'setNoDelay',
  'readStart',
  'readStop',
  'writeBuffer',
  'useUserBuffer',
  'shutdown',
  'reset',
  'close',
] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** `process.binding`, or null where this Node has none. */
function defaultLoader(): BindingLoader | null {
  const binding = (process as unknown as { binding?: BindingLoader }).binding;
  return typeof binding === 'function' ? binding.bind(process) : null;
}

/**
 * Loads and checks Node's TCP handle bindings.
 *
 * @param load `process.binding` (default), a stand-in for tests, or null for none
 * @returns the handles, or (in `why`) the reason this Node does not offer them as expected
 * @example
 * const { handles, why } = probeTcpHandles();
 * if (handles === undefined) log(`falling back to net.Socket: ${why}`);
 */
export function probeTcpHandles(load: BindingLoader | null = defaultLoader()): {
  handles?: TcpHandles;
  why?: string;
} {
  if (load === null) return { why: 'process.binding is not available' };
  let tcp: unknown;
  let stream: unknown;
  let uv: unknown;
  try {
    tcp = load('tcp_wrap');
    stream = load('stream_wrap');
    uv = load('uv');
  } catch (error) {
    return { why: `process.binding refused: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (!isObject(tcp) || !isObject(stream) || !isObject(uv)) return { why: 'bindings are not objects' };
  const { TCP, TCPConnectWrap, constants } = tcp;
  const { WriteWrap, ShutdownWrap, streamBaseState } = stream;
  const kReadBytesOrError = stream.kReadBytesOrError;
  const kArrayBufferOffset = stream.kArrayBufferOffset;
  const kLastWriteWasAsync = stream.kLastWriteWasAsync;
  if (
    typeof TCP !== 'function' ||
    typeof TCPConnectWrap !== 'function' ||
    typeof WriteWrap !== 'function' ||
    typeof ShutdownWrap !== 'function' ||
    !isObject(constants) ||
    typeof constants.SOCKET !== 'number' ||
    typeof constants.SERVER !== 'number' ||
    !(streamBaseState instanceof Int32Array) ||
    typeof kReadBytesOrError !== 'number' ||
    typeof kArrayBufferOffset !== 'number' ||
    typeof kLastWriteWasAsync !== 'number' ||
    typeof uv.UV_EOF !== 'number'
  ) {
    return { why: 'tcp_wrap/stream_wrap do not have the expected shape' };
  }
  const proto = (TCP as { prototype: unknown }).prototype;
  for (const name of TCP_METHODS) {
    if (typeof (proto as Record<string, unknown>)[name] !== 'function') {
      return { why: `TCP handles have no ${name}()` };
    }
  }
  const Tcp = TCP as Ctor<TcpHandle>;
  const socketType = constants.SOCKET;
  const serverType = constants.SERVER;
  const state = streamBaseState;
  return {
    handles: {
      newServer: () => new Tcp(serverType),
      newSocket: () => new Tcp(socketType),
      newConnectReq: () => new (TCPConnectWrap as Ctor<ConnectReq>)(),
      newWriteReq: () => new (WriteWrap as Ctor<WriteReq>)(),
      newShutdownReq: () => new (ShutdownWrap as Ctor<ShutdownReq>)(),
      state: {
        readBytesOrError: () => state[kReadBytesOrError] ?? 0,
        arrayBufferOffset: () => state[kArrayBufferOffset] ?? 0,
        lastWriteWasAsync: () => state[kLastWriteWasAsync] !== 0,
      },
      UV_EOF: uv.UV_EOF,
    },
  };
}
