/**
 * The UDP half of the userspace relay: one listening socket; for every client address (ip:port) a
 * connected socket to a backend picked by the balancer; datagrams from the client go to that backend and
 * its replies go back to the client from the listening socket, so the client sees them come from the
 * address it sent to (the VIP when listening on it; through the portal's NAT otherwise). A flow idle for
 * `idleTimeoutMs` in both directions is closed (upstream's `--udp-timeout`, 250 ms by default).
 *
 * A backend that answers with an ICMP error (port unreachable: its server is gone, and no endpoint update
 * said so yet) is retried as the TCP relay retries a refused connect: while the flow has had no reply, its
 * datagrams so far (at most `maxPending`) go again to another backend, up to {@link UDP_ATTEMPTS} backends
 * per flow, so the client's request is answered instead of lost; and new flows pass over that backend for
 * {@link UDP_FAILED_BACKEND_MS} (the kernel rate-limits ICMP errors, so most datagrams sent to a dead
 * server would get none). A flow that had replies, or whose last attempt failed too, is closed, and the
 * client's next datagram picks another backend.
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
import type { Backend, BackendPicker } from './balancer.ts';

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

/** Backends a flow tries (the first and up to three others) while none has answered. */
export const UDP_ATTEMPTS = 4;

/**
 * How long new flows pass over a backend that answered port-unreachable (see balancer.ts): about twice
 * the kernel's ICMP rate limit per peer (1 s), so that the next flow sent to it learns again whether it is
 * still gone.
 */
export const UDP_FAILED_BACKEND_MS = 2000;

/** Counters of one UDP relay listener. */
export interface UdpRelayCounters {
  flowsOpened: number;
  flowsIdledOut: number;
  /** Flows moved to another backend after an ICMP error, before any reply. */
  flowsRetried: number;
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
  /** Datagrams sent before the first reply (for a retry on another backend); undefined once answered. */
  unanswered: Buffer[] | undefined = [];
  /** Backends tried so far. */
  attempts = 0;
  /** The backend of the current attempt. */
  target: Backend | undefined = undefined;
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
  readonly counters: UdpRelayCounters = { flowsOpened: 0, flowsIdledOut: 0, flowsRetried: 0, dropped: 0 };
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
    const flow = new Flow(this, key, rinfo.address, rinfo.port);
    if (!this.#connect(flow, this.#failedClients.delete(rinfo.address))) {
      this.metrics.dialFailure();
      return undefined;
    }
    this.flows.set(key, flow);
    this.counters.flowsOpened++;
    this.metrics.connectionOpened();
    this.#armSweep();
    return flow;
  }

  /**
   * @internal a backend answered the flow's datagrams with an ICMP error: another backend gets them
   * while none has answered and attempts are left; else the flow closes
   */
  backendFailed(flow: Flow): void {
    if (flow.target !== undefined) this.picker.markFailed?.(flow.target, UDP_FAILED_BACKEND_MS);
    const resend = flow.unanswered;
    if (flow.closed || resend === undefined || flow.attempts >= UDP_ATTEMPTS || this.#closed) {
      this.closeFlow(flow, true);
      return;
    }
    this.#dropBackend(flow);
    flow.pending = [...resend];
    flow.unanswered = [];
    if (!this.#connect(flow, true)) {
      this.closeFlow(flow, true);
      return;
    }
    this.counters.flowsRetried++;
  }

  /** Picks a backend for the flow and connects a socket to it; false when there is none. */
  #connect(flow: Flow, retry: boolean): boolean {
    const backend = this.picker.pick(flow.clientAddress, retry);
    if (backend === undefined) return false;
    flow.attempts++;
    flow.target = backend;
    const socket = createSocket({ type: this.#type }) as FlowSocket;
    socket[FLOW] = flow;
    socket.on('message', onBackendMessage);
    socket.on('error', onBackendError);
    flow.backend = socket;
    socket.connect(backend.port, backend.ip, onBackendConnected);
    return true;
  }

  /** Closes the flow's backend socket; its late events find no flow. */
  #dropBackend(flow: Flow): void {
    const socket = flow.backend;
    flow.backend = undefined;
    if (socket === undefined) return;
    socket.removeAllListeners('message');
    socket.on('error', () => {
      /* a late ICMP error of a socket already given up */
    });
    try {
      socket.close();
    } catch {
      /* already closed */
    }
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
    this.#dropBackend(flow);
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
  sendToBackend(flow, flow.backend!, msg);
}

/** Sends a client's datagram on, keeping it for a retry until the backend first answers. */
function sendToBackend(flow: Flow, socket: FlowSocket, msg: Buffer): void {
  const unanswered = flow.unanswered;
  if (unanswered !== undefined && unanswered.length < flow.relay.maxPending) unanswered.push(msg);
  socket.send(msg);
}

function onBackendConnected(this: FlowSocket): void {
  const flow = this[FLOW];
  if (flow.closed || flow.backend !== this) return;
  const pending = flow.pending ?? [];
  flow.pending = undefined;
  for (const msg of pending) sendToBackend(flow, this, msg);
}

function onBackendMessage(this: FlowSocket, msg: Buffer): void {
  const flow = this[FLOW];
  if (flow.closed || flow.backend !== this) return;
  flow.unanswered = undefined;
  flow.lastActive = flow.relay.now();
  flow.bytesOut += msg.length;
  flow.relay.socket.send(msg, flow.clientPort, flow.clientAddress);
}

function onBackendError(this: FlowSocket): void {
  const flow = this[FLOW];
  if (flow.backend !== this) return;
  flow.relay.backendFailed(flow);
}
