/**
 * What a TCP relay engine and its relay see of each other: the relay (tcp_relay.ts) picks an engine and
 * hosts it; the engines (tcp_relay_handles.ts, tcp_relay_net.ts) and their shared connect attempts
 * (connect_attempts.ts) import only this module, so that no engine depends on the module that picks it.
 *
 * @module
 */
import type { RelayPortMetrics } from '../../metrics/relay_metrics.ts';
import type { BackendPicker } from './balancer.ts';

/** Counters of one relay listener (monotonic). */
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

/** What an engine sees of its relay. */
export interface RelayHost {
  readonly picker: BackendPicker;
  readonly timeouts: readonly number[];
  readonly counters: TcpRelayCounters;
  readonly metrics: RelayPortMetrics;
  /** Called by the engine once per connection, after its last socket closed and it left the active count. */
  connectionEnded(): void;
}

/** One way of relaying connections (see tcp_relay.ts for what every engine does). */
export interface TcpRelayEngine {
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting; the port is released at once. */
  close(): void;
  readonly activeConnections: number;
  readonly bufferedBytes: number;
  destroyConnections(): void;
}
