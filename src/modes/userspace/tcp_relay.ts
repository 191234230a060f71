/**
 * The TCP half of the userspace relay: one listening socket, and for every accepted client a connection
 * to a backend picked by the balancer, then bytes both ways until both sides are done.
 *
 * What every engine does (the behaviour tcp_relay_test.ts checks on each):
 * - Nothing is read from a client before its backend is connected, so a retry never has to replay data.
 * - Retries: a backend that refuses, errors or does not complete the connect within the attempt's timeout
 *   (250 ms, 500 ms, 1 s, 2 s by default) is dropped and the next one tried (the client's affinity is
 *   reset, so it moves on); only when every attempt failed is the client's connection closed.
 * - Per connection: half-close is relayed (a FIN is passed on, the other direction keeps flowing);
 *   backpressure stops reading one side while the other side's writes are pending, so a slow reader never
 *   makes the relay hold more than about one read (64 KB) per direction; a reset on one side resets the
 *   other; nothing one connection does touches another.
 * - Metrics: every accepted client is one connection of the service port's {@link RelayPortMetrics}
 *   (opened at accept, closed with its byte counts); a failed attempt followed by another is a dial retry,
 *   giving up (or having no backend at all) is a dial failure.
 * - Stopping: {@link TcpRelay.close} stops accepting at once; {@link TcpRelay.drained} resolves when the
 *   connections already accepted have ended, and {@link TcpRelay.destroyConnections} ends those that are
 *   still open when the caller's patience runs out.
 *
 * The engines:
 * - `handles` (the default wherever this Node offers them): relays on Node's libuv TCP handles directly
 *   (tcp_relay_handles.ts); no streams, no events, one small object per connection.
 * - `net`: the same on `net.Socket` (tcp_relay_net.ts); the fallback when the handles are not usable.
 *
 * @module
 */
import { NOOP_RELAY_METRICS, type RelayPortMetrics } from '../../metrics/relay_metrics.ts';
import type { BackendPicker } from './balancer.ts';
import type { RelayHost, TcpRelayCounters, TcpRelayEngine } from './relay_engine.ts';
import { probeTcpHandles, type TcpHandles } from './tcp_handles.ts';
import { HandleRelayEngine } from './tcp_relay_handles.ts';
import { NetRelayEngine } from './tcp_relay_net.ts';

/** How connections are relayed: see the module comment. */
export type TcpRelayEngineName = 'handles' | 'net';

/** `auto` picks `handles` when this Node offers them, else `net`. */
export type TcpRelayEngineChoice = TcpRelayEngineName | 'auto';

/** Options of a {@link TcpRelay}. */
export interface TcpRelayOptions {
  /** Connect timeout of each attempt; its length is the number of attempts. Default 250, 500, 1000, 2000. */
  readonly connectTimeoutsMs?: readonly number[] | undefined;
  /** The service port's counters (default: none). */
  readonly metrics?: RelayPortMetrics | undefined;
  /** Default `auto`. `handles` where they are not available throws. */
  readonly engine?: TcpRelayEngineChoice | undefined;
}

/** Upstream's userspace proxier used these (EndpointDialTimeouts). */
export const DEFAULT_CONNECT_TIMEOUTS_MS: readonly number[] = [250, 500, 1000, 2000];

let probed: { handles?: TcpHandles; why?: string } | undefined;

function probe(): { handles?: TcpHandles; why?: string } {
  probed ??= probeTcpHandles();
  return probed;
}

/**
 * Which engine `auto` picks on this Node, and why not `handles` when it does not.
 *
 * @returns the engine name, and the reason when it is `net`
 */
export function autoTcpRelayEngine(): { engine: TcpRelayEngineName; why?: string } {
  const { handles, why } = probe();
  return handles !== undefined ? { engine: 'handles' } : { engine: 'net', why: why ?? 'unknown' };
}

/**
 * The engine a choice means on this Node.
 *
 * @param choice `auto`, or an engine
 * @returns the engine, and why not `handles` when `auto` falls back to `net`
 * @throws when `handles` is chosen and this Node does not offer them
 */
export function resolveTcpRelayEngine(choice: TcpRelayEngineChoice): {
  engine: TcpRelayEngineName;
  why?: string;
} {
  const auto = autoTcpRelayEngine();
  if (choice === 'handles' && auto.engine !== 'handles') {
    throw new Error(`The handles relay engine is not available on this Node: ${auto.why}`);
  }
  return choice === 'auto' ? auto : { engine: choice };
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
export class TcpRelay implements RelayHost {
  readonly counters: TcpRelayCounters = { accepted: 0, relayed: 0, failed: 0, failedAttempts: 0 };
  readonly timeouts: readonly number[];
  readonly picker: BackendPicker;
  /** Which engine relays this listener's connections. */
  readonly engine: TcpRelayEngineName;
  /** @internal */
  readonly metrics: RelayPortMetrics;
  readonly #engine: TcpRelayEngine;
  /** Resolves {@link drained}'s promise once no connection is left. */
  #onDrained: (() => void) | undefined;
  #drained: Promise<void> | undefined;

  constructor(picker: BackendPicker, options: TcpRelayOptions = {}) {
    this.picker = picker;
    this.timeouts = options.connectTimeoutsMs ?? DEFAULT_CONNECT_TIMEOUTS_MS;
    this.metrics = options.metrics ?? NOOP_RELAY_METRICS.servicePort('');
    this.engine = resolveTcpRelayEngine(options.engine ?? 'auto').engine;
    const handles = this.engine === 'handles' ? probe().handles : undefined;
    this.#engine = handles !== undefined ? new HandleRelayEngine(this, handles) : new NetRelayEngine(this);
  }

  /**
   * Starts listening.
   *
   * @param host the address to bind (`0.0.0.0` behind portal rules, or the VIP itself)
   * @param port the port, 0 for any free one
   * @returns the bound port
   */
  listen(host: string, port: number): Promise<number> {
    return this.#engine.listen(host, port);
  }

  /** Connections accepted and not yet fully closed. */
  get activeConnections(): number {
    return this.#engine.activeConnections;
  }

  /**
   * Bytes the relay holds in user space for all its connections (data read from one side and not yet
   * taken by the kernel on the other): what backpressure keeps bounded.
   */
  get bufferedBytes(): number {
    return this.#engine.bufferedBytes;
  }

  /** Stops accepting (the port is released at once); relayed connections continue until they end. */
  close(): Promise<void> {
    this.#engine.close();
    return Promise.resolve();
  }

  /**
   * Waits until every connection accepted so far has ended (both sockets closed). Meant for after
   * {@link close}: while the relay still accepts, new connections may keep it from ever resolving.
   *
   * @returns a promise that resolves when no connection is left
   */
  drained(): Promise<void> {
    if (this.#engine.activeConnections === 0) return Promise.resolve();
    this.#drained ??= new Promise<void>((resolve) => {
      this.#onDrained = resolve;
    });
    return this.#drained;
  }

  /**
   * Ends every connection of this relay (at shutdown, once the grace period is over); await
   * {@link drained} for them to be accounted as ended.
   */
  destroyConnections(): void {
    this.#engine.destroyConnections();
  }

  /** @internal */
  connectionEnded(): void {
    if (this.#onDrained !== undefined && this.#engine.activeConnections === 0) {
      const resolve = this.#onDrained;
      this.#onDrained = undefined;
      this.#drained = undefined;
      resolve();
    }
  }
}
