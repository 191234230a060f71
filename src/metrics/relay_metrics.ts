/**
 * Metrics of the userspace relay, built for its hot path: the relay holds one {@link RelayPortMetrics} per
 * service port and bumps plain number fields on it (no label hashing, no allocation per connection);
 * the values reach prom-client only when /metrics is scraped.
 *
 * Exported series (label `service_port`, a `ServicePortKey` such as `default/web:http/TCP`):
 * `kproxy_userspace_active_connections`, `kproxy_userspace_connections_total`,
 * `kproxy_userspace_received_bytes_total` (from clients), `kproxy_userspace_sent_bytes_total` (to
 * clients), `kproxy_userspace_dial_retries_total`, `kproxy_userspace_dial_failures_total`. For UDP a
 * "connection" is one client session (from its first datagram to its idle timeout).
 *
 * @module
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ServicePortKey } from '../model/types.ts';

/** The counters of one service port; every method is a few field updates. */
export interface RelayPortMetrics {
  /** A client connection (or UDP session) was accepted and is being relayed. */
  connectionOpened(): void;
  /**
   * A relayed connection ended.
   *
   * @param bytesIn bytes received from the client and not yet reported by {@link bytesTransferred}
   * @param bytesOut bytes sent to the client and not yet reported
   */
  connectionClosed(bytesIn: number, bytesOut: number): void;
  /**
   * Reports bytes of a connection that is still open (optional; lets long connections show progress).
   *
   * @param bytesIn bytes received from the client since the last report
   * @param bytesOut bytes sent to the client since the last report
   */
  bytesTransferred(bytesIn: number, bytesOut: number): void;
  /** A dial to a backend failed and another backend (or the same one) is being tried. */
  dialRetry(): void;
  /** The relay gave up: no backend could be dialled for this connection. */
  dialFailure(): void;
}

/** What the userspace Proxier gets: one {@link RelayPortMetrics} per service port. */
export interface RelayMetrics {
  /**
   * The counters of a service port; the same object for the same key until {@link forget}. Call once
   * when the port's listener opens and keep the result.
   *
   * @param key the service port
   * @returns its counters
   */
  servicePort(key: ServicePortKey): RelayPortMetrics;
  /**
   * Stops exporting a service port. Call once its listener is closed and its connections are gone;
   * a handle still held afterwards keeps working but is no longer exported.
   *
   * @param key the service port
   */
  forget(key: ServicePortKey): void;
}

class PortCounters implements RelayPortMetrics {
  active = 0;
  total = 0;
  bytesIn = 0;
  bytesOut = 0;
  dialRetries = 0;
  dialFailures = 0;

  connectionOpened(): void {
    this.active++;
    this.total++;
  }

  connectionClosed(bytesIn: number, bytesOut: number): void {
    this.active--;
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
  }

  bytesTransferred(bytesIn: number, bytesOut: number): void {
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
  }

  dialRetry(): void {
    this.dialRetries++;
  }

  dialFailure(): void {
    this.dialFailures++;
  }
}

type Field = 'active' | 'total' | 'bytesIn' | 'bytesOut' | 'dialRetries' | 'dialFailures';

/** The prom-client side of {@link RelayMetrics}; `ProxyMetrics.relay` is one. */
export class RelayCounters implements RelayMetrics {
  readonly #ports = new Map<ServicePortKey, PortCounters>();

  /**
   * @param registers where the relay series are exported (empty: counted but not exported)
   */
  constructor(registers: Registry[]) {
    const ports = this.#ports;
    const counter = (name: string, help: string, field: Field): void => {
      new Counter({
        name,
        help,
        labelNames: ['service_port'],
        registers,
        collect(): void {
          this.reset();
          for (const [key, port] of ports) this.inc({ service_port: key }, port[field]);
        },
      });
    };
    new Gauge({
      name: 'kproxy_userspace_active_connections',
      help: 'Connections (UDP: client sessions) the userspace relay is relaying now',
      labelNames: ['service_port'],
      registers,
      collect(): void {
        this.reset();
        for (const [key, port] of ports) this.set({ service_port: key }, port.active);
      },
    });
    counter(
      'kproxy_userspace_connections_total',
      'Connections (UDP: client sessions) accepted by the relay',
      'total',
    );
    counter('kproxy_userspace_received_bytes_total', 'Bytes the relay received from clients', 'bytesIn');
    counter('kproxy_userspace_sent_bytes_total', 'Bytes the relay sent to clients', 'bytesOut');
    counter(
      'kproxy_userspace_dial_retries_total',
      'Backend dials that failed and were retried',
      'dialRetries',
    );
    counter(
      'kproxy_userspace_dial_failures_total',
      'Connections dropped because no backend answered',
      'dialFailures',
    );
  }

  servicePort(key: ServicePortKey): RelayPortMetrics {
    let port = this.#ports.get(key);
    if (port === undefined) {
      port = new PortCounters();
      this.#ports.set(key, port);
    }
    return port;
  }

  forget(key: ServicePortKey): void {
    this.#ports.delete(key);
  }
}

const NOOP_PORT: RelayPortMetrics = {
  connectionOpened() {},
  connectionClosed() {},
  bytesTransferred() {},
  dialRetry() {},
  dialFailure() {},
};

/** Relay metrics that count nothing (tests, or a relay run without a metrics server). */
export const NOOP_RELAY_METRICS: RelayMetrics = {
  servicePort: () => NOOP_PORT,
  forget() {},
};
