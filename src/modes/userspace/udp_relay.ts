/**
 * The UDP half of the userspace relay: one listening socket; for every client address (ip:port) a
 * connected socket to a backend picked by the balancer; datagrams from the client go to that backend and
 * its replies go back to the client from the listening socket, so the client sees them come from the
 * address it sent to (the VIP when listening on it; through the portal's NAT otherwise). A flow idle for
 * `idleTimeoutMs` in both directions is closed (upstream's `--udp-timeout`, 250 ms by default); an ICMP
 * error from the backend (port unreachable) closes the flow, and the client's next datagram picks another
 * backend.
 *
 * Metrics: a flow is one "connection" of the service port's {@link RelayPortMetrics}, opened with its first
 * datagram and closed (with the bytes of its datagrams) when it idles out, fails or the relay closes; a
 * datagram that finds no backend for a new flow is a dial failure.
 *
 * @module
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { NOOP_RELAY_METRICS, type RelayPortMetrics } from '../../metrics/relay_metrics.ts';
import type { Clock, Timer } from '../../runner/clock.ts';
import type { BackendPicker } from './balancer.ts';

/** Options of a {@link UdpRelay}. */
export interface UdpRelayOptions {
  /** A flow with no datagram either way for this long is closed. */
  readonly idleTimeoutMs: number;
  readonly clock: Clock;
  /** Datagrams kept per flow while its backend socket connects; more are dropped. Default 64. */
  readonly maxPending?: number | undefined;
  /** The service port's counters (default: none). */
  readonly metrics?: RelayPortMetrics | undefined;
}

/** Counters of one UDP relay listener. */
export interface UdpRelayCounters {
  flowsOpened: number;
  flowsIdledOut: number;
  /** Datagrams dropped: no backend, or too many queued while connecting. */
  dropped: number;
}

const FLOW: unique symbol = Symbol('kproxy.udp.flow');
const RELAY: unique symbol = Symbol('kproxy.udp.relay');

interface FlowSocket extends Socket {
  [FLOW]: Flow;
}

interface ListenSocket extends Socket {
  [RELAY]: UdpRelay;
}

class Flow {
  lastActive = 0;
  /** Datagrams waiting for the backend socket's connect; undefined once connected. */
  pending: Buffer[] | undefined = [];
  closed = false;
  backend: FlowSocket | undefined = undefined;
  /** Bytes of the datagrams from the client, and of those sent back to it. */
  bytesIn = 0;
  bytesOut = 0;
  constructor(
    readonly relay: UdpRelay,
    readonly key: string,
    readonly clientAddress: string,
    readonly clientPort: number,
  ) {}
}

/**
 * A UDP relay listener.
 *
 * @example
 * const relay = new UdpRelay(balancer, 'udp4', { idleTimeoutMs: 250, clock: systemClock });
 * await relay.listen('127.0.0.53', 53);
 */
export class UdpRelay {
  readonly counters: UdpRelayCounters = { flowsOpened: 0, flowsIdledOut: 0, dropped: 0 };
  readonly socket: ListenSocket;
  readonly picker: BackendPicker;
  readonly flows = new Map<string, Flow>();
  /** @internal */
  readonly metrics: RelayPortMetrics;
  readonly #options: UdpRelayOptions;
  readonly #type: 'udp4' | 'udp6';
  /** Clients whose last flow failed: their next pick resets affinity. */
  readonly #failedClients = new Set<string>();
  #sweepTimer: Timer | undefined;
  #closed = false;

  constructor(picker: BackendPicker, type: 'udp4' | 'udp6', options: UdpRelayOptions) {
    this.picker = picker;
    this.#type = type;
    this.#options = options;
    this.metrics = options.metrics ?? NOOP_RELAY_METRICS.servicePort('');
    // IPv6-only, as the TCP relay binds: a UDP listener on `::` is the IPv6 Proxier's alone.
    this.socket = createSocket({ type, ipv6Only: type === 'udp6' }) as ListenSocket;
    this.socket[RELAY] = this;
    this.socket.on('message', onClientMessage);
    this.socket.on('error', () => {
      /* a send to a vanished client: nothing to do */
    });
  }

  /**
   * Binds the listening socket.
   *
   * @param host the address (`0.0.0.0` behind portal rules, or the VIP)
   * @param port the port, 0 for any free one
   * @returns the bound port
   */
  listen(host: string, port: number): Promise<number> {
    const socket = this.socket;
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      socket.once('error', onError);
      socket.bind({ address: host, port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve(socket.address().port);
      });
    });
  }

  /** @internal opens the flow of a new client address */
  open(rinfo: RemoteInfo, key: string): Flow | undefined {
    const retry = this.#failedClients.delete(rinfo.address);
    const backend = this.picker.pick(rinfo.address, retry);
    if (backend === undefined) {
      this.metrics.dialFailure();
      return undefined;
    }
    const flow = new Flow(this, key, rinfo.address, rinfo.port);
    const socket = createSocket({ type: this.#type }) as FlowSocket;
    socket[FLOW] = flow;
    socket.on('message', onBackendMessage);
    socket.on('error', onBackendError);
    flow.backend = socket;
    socket.connect(backend.port, backend.ip, onBackendConnected);
    this.flows.set(key, flow);
    this.counters.flowsOpened++;
    this.metrics.connectionOpened();
    this.#armSweep();
    return flow;
  }

  /** @internal */
  get maxPending(): number {
    return this.#options.maxPending ?? 64;
  }

  /** @internal */
  now(): number {
    return this.#options.clock.now();
  }

  /** @internal closes one flow; `failed` makes the client's next flow move on */
  closeFlow(flow: Flow, failed: boolean): void {
    if (flow.closed) return;
    flow.closed = true;
    this.flows.delete(flow.key);
    this.metrics.connectionClosed(flow.bytesIn, flow.bytesOut);
    if (failed) this.#failedClients.add(flow.clientAddress);
    try {
      flow.backend?.close();
    } catch {
      /* already closed */
    }
  }

  /** Closes every flow idle for at least the idle timeout (called by a timer while flows exist). */
  sweep(): void {
    const now = this.now();
    const idle = this.#options.idleTimeoutMs;
    for (const flow of this.flows.values()) {
      if (now - flow.lastActive >= idle) {
        this.counters.flowsIdledOut++;
        this.closeFlow(flow, false);
      }
    }
  }

  #armSweep(): void {
    if (this.#sweepTimer !== undefined || this.#closed) return;
    const interval = Math.min(1000, Math.max(10, Math.floor(this.#options.idleTimeoutMs / 2)));
    this.#sweepTimer = this.#options.clock.setTimer(() => {
      this.#sweepTimer = undefined;
      this.sweep();
      if (this.flows.size > 0) this.#armSweep();
    }, interval);
  }

  /** Closes the listening socket and every flow. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#sweepTimer?.cancel();
    this.#sweepTimer = undefined;
    for (const flow of [...this.flows.values()]) this.closeFlow(flow, false);
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

function onClientMessage(this: ListenSocket, msg: Buffer, rinfo: RemoteInfo): void {
  const relay = this[RELAY];
  const key = `${rinfo.address} ${rinfo.port}`;
  let flow = relay.flows.get(key);
  if (flow === undefined) {
    flow = relay.open(rinfo, key);
    if (flow === undefined) {
      relay.counters.dropped++;
      return;
    }
  }
  flow.lastActive = relay.now();
  flow.bytesIn += msg.length;
  const pending = flow.pending;
  if (pending !== undefined) {
    if (pending.length < relay.maxPending) pending.push(msg);
    else relay.counters.dropped++;
    return;
  }
  flow.backend!.send(msg);
}

function onBackendConnected(this: FlowSocket): void {
  const flow = this[FLOW];
  const pending = flow.pending ?? [];
  flow.pending = undefined;
  if (flow.closed) return;
  for (const msg of pending) this.send(msg);
}

function onBackendMessage(this: FlowSocket, msg: Buffer): void {
  const flow = this[FLOW];
  if (flow.closed) return;
  flow.lastActive = flow.relay.now();
  flow.bytesOut += msg.length;
  flow.relay.socket.send(msg, flow.clientPort, flow.clientAddress);
}

function onBackendError(this: FlowSocket): void {
  const flow = this[FLOW];
  flow.relay.closeFlow(flow, true);
}
