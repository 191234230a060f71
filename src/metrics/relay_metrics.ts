/**
 * Metrics of the userspace relay, built for its hot path: the relay holds one {@link RelayPortMetrics} per
 * service port and bumps plain number fields on it (no label hashing, no allocation per connection).
 * The series are rendered straight from those fields when /metrics is scraped, with each port's label
 * escaped once: going through prom-client (reset + one labelled `inc` per series per scrape) took
 * 120-340 ms for 10k service ports (60k series), all of it blocking the event loop the relay and the
 * health server share; direct rendering keeps such a scrape to a few tens of ms.
 *
 * Exported series (label `service_port`, a `ServicePortKey` such as `default/web:http/TCP`):
 * `kproxy_userspace_active_connections`, `kproxy_userspace_connections_total`,
 * `kproxy_userspace_received_bytes_total` (from clients), `kproxy_userspace_sent_bytes_total` (to
 * clients), `kproxy_userspace_dial_retries_total`, `kproxy_userspace_dial_failures_total`. For UDP a
 * "connection" is one client session (from its first datagram to its idle timeout).
 *
 * @module
 */
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

  /**
   * @param labels the series' label set, rendered and escaped once
   */
  constructor(readonly labels: string) {}

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

const FAMILIES: readonly { name: string; type: 'gauge' | 'counter'; help: string; field: Field }[] = [
  {
    name: 'kproxy_userspace_active_connections',
    type: 'gauge',
    help: 'Connections (UDP: client sessions) the userspace relay is relaying now',
    field: 'active',
  },
  {
    name: 'kproxy_userspace_connections_total',
    type: 'counter',
    help: 'Connections (UDP: client sessions) accepted by the relay',
    field: 'total',
  },
  {
    name: 'kproxy_userspace_received_bytes_total',
    type: 'counter',
    help: 'Bytes the relay received from clients',
    field: 'bytesIn',
  },
  {
    name: 'kproxy_userspace_sent_bytes_total',
    type: 'counter',
    help: 'Bytes the relay sent to clients',
    field: 'bytesOut',
  },
  {
    name: 'kproxy_userspace_dial_retries_total',
    type: 'counter',
    help: 'Backend dials that failed and were retried',
    field: 'dialRetries',
  },
  {
    name: 'kproxy_userspace_dial_failures_total',
    type: 'counter',
    help: 'Connections dropped because no backend answered',
    field: 'dialFailures',
  },
];

/** Escapes a label value for the Prometheus text format (backslash, double quote, newline). */
function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** The implementation behind `ProxyMetrics.relay`. */
export class RelayCounters implements RelayMetrics {
  readonly #ports = new Map<ServicePortKey, PortCounters>();

  servicePort(key: ServicePortKey): RelayPortMetrics {
    let port = this.#ports.get(key);
    if (port === undefined) {
      port = new PortCounters(`{service_port="${escapeLabelValue(key)}"}`);
      this.#ports.set(key, port);
    }
    return port;
  }

  forget(key: ServicePortKey): void {
    this.#ports.delete(key);
  }

  /**
   * Renders the relay's series in the Prometheus text format (version 0.0.4), families separated by a
   * blank line as prom-client does.
   *
   * @returns the exposition text, ending with a newline
   */
  render(): string {
    const families: string[] = [];
    for (const { name, type, help, field } of FAMILIES) {
      let text = `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
      for (const port of this.#ports.values()) text += `${name}${port.labels} ${port[field]}\n`;
      families.push(text);
    }
    return families.join('\n');
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
