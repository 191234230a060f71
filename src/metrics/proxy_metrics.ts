/**
 * kproxy's Prometheus metrics: kube-proxy's own names, help texts and buckets (`pkg/proxy/metrics`) where
 * the meaning is the same, plus `kproxy_*` metrics for what kube-proxy does not have (the userspace relay,
 * sync failures, the size of the last sync). Each {@link ProxyMetrics} owns its registry, so tests and
 * several proxies in one process do not share counters.
 *
 * Per-sync metrics carry upstream's `ip_family` label (Kubernetes 1.33+), one series per IP family's
 * Proxier: {@link ProxyMetrics.forFamily} gives the handle a family's Proxier and its sync report use.
 * Tracker-level metrics (changes pending and seen, last queued, programming latency) and the probe
 * counters stay unlabelled, as they are one per daemon. A {@link ProxyMetrics} no one asked a family of
 * (a Proxier tested alone) keeps unlabelled per-sync series.
 *
 * @module
 */
import {
  Counter,
  collectDefaultMetrics,
  exponentialBuckets,
  Gauge,
  Histogram,
  linearBuckets,
  Registry,
} from 'prom-client';
import type { HealthEndpoint, HealthProbeCounter } from '../contracts/health.ts';
import type { ProxyMode } from '../contracts/proxy_mode.ts';
import type { SyncReport } from '../contracts/sync.ts';
import type { IPFamily } from '../model/types.ts';
import { RelayCounters, type RelayMetrics } from './relay_metrics.ts';

/** Options of {@link ProxyMetrics}. */
export interface ProxyMetricsOptions {
  /**
   * Registers only the metrics kube-proxy registers for this mode (plus kproxy's own for it); undefined
   * registers everything (handy for tests and `kproxy rules`).
   */
  readonly mode?: ProxyMode | undefined;
  /** Also export prom-client's process and Node.js metrics (`process_*`, `nodejs_*`). Default false. */
  readonly defaultMetrics?: boolean | undefined;
  /** Epoch milliseconds, for the timestamp gauges. Default `Date.now`. */
  readonly now?: (() => number) | undefined;
}

/** The kind of sync, as {@link SyncReport} spells it. */
export type SyncKind = SyncReport['kind'];

/** iptables tables kproxy writes. */
export type IptablesTable = 'nat' | 'filter' | 'mangle' | 'raw';

/** Sync durations: 1 ms to ~16 s, as upstream. */
const SYNC_BUCKETS = exponentialBuckets(0.001, 2, 15);

/**
 * Network programming latency: 0, 0.25 s, 0.5 s, 1..59 s, 60..115 s by 5 s, 2..5 min by 30 s; the
 * leading 0 is upstream's (component-base `MergeBuckets` starts from one zero bucket).
 */
const PROGRAMMING_BUCKETS = [
  0,
  ...linearBuckets(0.25, 0.25, 2),
  ...linearBuckets(1, 1, 59),
  ...linearBuckets(60, 5, 12),
  ...linearBuckets(120, 30, 7),
];

/** Label of the per-sync series: upstream's `ip_family`, absent on the root handle. */
type FamilyLabel = 'ip_family';

/** The metric objects, shared by a {@link ProxyMetrics} and its per-family handles. */
interface MetricSet {
  readonly syncDuration: Histogram<FamilyLabel>;
  readonly syncFullDuration: Histogram<FamilyLabel>;
  readonly syncPartialDuration: Histogram<FamilyLabel>;
  readonly programmingLatency: Histogram;
  readonly lastSync: Gauge<FamilyLabel>;
  readonly lastQueued: Gauge;
  readonly endpointChangesPending: Gauge;
  readonly endpointChangesTotal: Counter;
  readonly serviceChangesPending: Gauge;
  readonly serviceChangesTotal: Counter;
  readonly noLocalEndpoints: Gauge<'traffic_policy' | FamilyLabel>;
  readonly restoreFailures: Counter<FamilyLabel>;
  readonly partialRestoreFailures: Counter<FamilyLabel>;
  readonly iptablesRules: Gauge<'table' | FamilyLabel>;
  readonly iptablesRulesLast: Gauge<'table' | FamilyLabel>;
  readonly nftablesSyncFailures: Counter<FamilyLabel>;
  readonly nftablesCleanupFailures: Counter<FamilyLabel>;
  readonly healthzTotal: Counter<'code'>;
  readonly livezTotal: Counter<'code'>;
  readonly syncFailures: Counter<FamilyLabel>;
  readonly lastServicePortsWritten: Gauge<FamilyLabel>;
  readonly lastRestoreBytes: Gauge<FamilyLabel>;
  readonly lastRestoreLines: Gauge<FamilyLabel>;
  readonly ipFamilyAvailable: Gauge<'ip_family'>;
  readonly repairs: Counter;
}

/** Creates every metric, registering those kube-proxy registers for `mode` (all when undefined). */
function registerMetrics(registry: Registry, mode: ProxyMode | undefined): MetricSet {
  const all = [registry];
  const none: Registry[] = [];
  const iptablesOnly = mode === undefined || mode === 'iptables' ? all : none;
  const nftablesOnly = mode === undefined || mode === 'nftables' ? all : none;
  const family: FamilyLabel[] = ['ip_family'];
  return {
    syncDuration: new Histogram({
      name: 'kubeproxy_sync_proxy_rules_duration_seconds',
      help: 'SyncProxyRules latency in seconds',
      buckets: SYNC_BUCKETS,
      labelNames: family,
      registers: all,
    }),
    // Upstream registers the full/partial split for iptables only; every kproxy mode reports its kind.
    syncFullDuration: new Histogram({
      name: 'kubeproxy_sync_full_proxy_rules_duration_seconds',
      help: 'SyncProxyRules latency in seconds for full resyncs',
      buckets: SYNC_BUCKETS,
      labelNames: family,
      registers: all,
    }),
    syncPartialDuration: new Histogram({
      name: 'kubeproxy_sync_partial_proxy_rules_duration_seconds',
      help: 'SyncProxyRules latency in seconds for partial resyncs',
      buckets: SYNC_BUCKETS,
      labelNames: family,
      registers: all,
    }),
    programmingLatency: new Histogram({
      name: 'kubeproxy_network_programming_duration_seconds',
      help: 'In Cluster Network Programming Latency in seconds',
      buckets: PROGRAMMING_BUCKETS,
      registers: all,
    }),
    lastSync: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds',
      help: 'The last time proxy rules were successfully synced',
      labelNames: family,
      registers: all,
    }),
    lastQueued: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds',
      help: 'The last time a sync of proxy rules was queued',
      registers: all,
    }),
    endpointChangesPending: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_endpoint_changes_pending',
      help: 'Pending proxy rules Endpoint changes',
      registers: all,
    }),
    endpointChangesTotal: new Counter({
      name: 'kubeproxy_sync_proxy_rules_endpoint_changes_total',
      help: 'Cumulative proxy rules Endpoint changes',
      registers: all,
    }),
    serviceChangesPending: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_service_changes_pending',
      help: 'Pending proxy rules Service changes',
      registers: all,
    }),
    serviceChangesTotal: new Counter({
      name: 'kubeproxy_sync_proxy_rules_service_changes_total',
      help: 'Cumulative proxy rules Service changes',
      registers: all,
    }),
    // A gauge despite the _total suffix, as upstream.
    noLocalEndpoints: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_no_local_endpoints_total',
      help: 'Number of services with a Local traffic policy and no endpoints',
      labelNames: ['traffic_policy', 'ip_family'],
      registers: all,
    }),
    // Upstream registers restore failures for iptables and ipvs; kproxy's userspace mode also programs its
    // REDIRECT rules with iptables-restore, so every mode but nftables (which runs no iptables) has them.
    restoreFailures: new Counter({
      name: 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total',
      help: 'Cumulative proxy iptables restore failures',
      labelNames: family,
      registers: mode === 'nftables' ? none : all,
    }),
    nftablesSyncFailures: new Counter({
      name: 'kubeproxy_sync_proxy_rules_nftables_sync_failures_total',
      help: 'Cumulative proxy nftables sync failures',
      labelNames: family,
      registers: nftablesOnly,
    }),
    nftablesCleanupFailures: new Counter({
      name: 'kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total',
      help: 'Cumulative proxy nftables cleanup failures',
      labelNames: family,
      registers: nftablesOnly,
    }),
    partialRestoreFailures: new Counter({
      name: 'kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total',
      help: 'Cumulative proxy iptables partial restore failures',
      labelNames: family,
      registers: iptablesOnly,
    }),
    iptablesRules: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_iptables_total',
      help: 'Total number of iptables rules owned by kube-proxy',
      labelNames: ['table', 'ip_family'],
      registers: iptablesOnly,
    }),
    iptablesRulesLast: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_iptables_last',
      help: 'Number of iptables rules written by kube-proxy in last sync',
      labelNames: ['table', 'ip_family'],
      registers: iptablesOnly,
    }),
    healthzTotal: new Counter({
      name: 'kubeproxy_proxy_healthz_total',
      help: 'Cumulative proxy healthz HTTP status',
      labelNames: ['code'],
      registers: all,
    }),
    livezTotal: new Counter({
      name: 'kubeproxy_proxy_livez_total',
      help: 'Cumulative proxy livez HTTP status',
      labelNames: ['code'],
      registers: all,
    }),
    syncFailures: new Counter({
      name: 'kproxy_sync_proxy_rules_failures_total',
      help: 'Cumulative failed syncs of proxy rules (retried by the runner)',
      labelNames: family,
      registers: all,
    }),
    lastServicePortsWritten: new Gauge({
      name: 'kproxy_sync_proxy_rules_last_service_ports_written',
      help: 'Service ports whose rules the last successful sync wrote',
      labelNames: family,
      registers: all,
    }),
    lastRestoreBytes: new Gauge({
      name: 'kproxy_sync_proxy_rules_last_restore_bytes',
      help: 'Bytes sent to the kernel restore tool(s) by the last successful sync',
      labelNames: family,
      registers: all,
    }),
    lastRestoreLines: new Gauge({
      name: 'kproxy_sync_proxy_rules_last_restore_lines',
      help: 'Lines sent to the kernel restore tool(s) by the last successful sync',
      labelNames: family,
      registers: all,
    }),
    ipFamilyAvailable: new Gauge({
      name: 'kproxy_ip_family_available',
      help: 'Whether this node serves the IP family (0: the host cannot, e.g. IPv6 disabled or ip6tables missing)',
      labelNames: ['ip_family'],
      registers: all,
    }),
    repairs: new Counter({
      name: 'kproxy_sync_proxy_rules_repairs_total',
      help: 'Times the integrity check between syncs found the rules damaged behind kproxy (a repair sync followed)',
      registers: all,
    }),
  };
}

/** The per-sync metrics that have one series per family (without labels of their own). */
function familySeries(m: MetricSet) {
  return {
    histograms: [m.syncDuration, m.syncFullDuration, m.syncPartialDuration],
    counters: [
      m.restoreFailures,
      m.partialRestoreFailures,
      m.nftablesSyncFailures,
      m.nftablesCleanupFailures,
      m.syncFailures,
    ],
    gauges: [m.lastSync, m.lastServicePortsWritten, m.lastRestoreBytes, m.lastRestoreLines],
  };
}

/** Makes a family's (or the root's) per-sync series exist at 0, as unlabelled metrics do by themselves. */
function zeroSeries(m: MetricSet, labels: { readonly ip_family?: IPFamily }): void {
  const { histograms, counters, gauges } = familySeries(m);
  for (const h of histograms) h.zero(labels);
  for (const c of counters) c.inc(labels, 0);
  for (const g of gauges) g.set(labels, 0);
  for (const policy of ['internal', 'external'])
    m.noLocalEndpoints.set({ ...labels, traffic_policy: policy }, 0);
}

/** Drops the root's unlabelled per-sync series, once the series are per family. */
function removeSeries(m: MetricSet, labels: { readonly ip_family?: IPFamily }): void {
  const { histograms, counters, gauges } = familySeries(m);
  for (const metric of [...histograms, ...counters, ...gauges]) metric.remove(labels);
  for (const policy of ['internal', 'external'])
    m.noLocalEndpoints.remove({ ...labels, traffic_policy: policy });
}

/**
 * Every metric the daemon, the proxiers and the servers update. The per-sync methods (sync durations and
 * timestamps, failures, no-local-endpoint and rule counts) write this handle's series: unlabelled on the
 * instance itself, `ip_family` on a {@link ProxyMetrics.forFamily} handle.
 *
 * @example
 * const metrics = new ProxyMetrics({ mode: 'iptables', defaultMetrics: true });
 * metrics.forFamily('IPv6').observeSync(report.kind, seconds, report);
 * const text = await metrics.metricsText();
 */
export class ProxyMetrics implements HealthProbeCounter {
  /** This instance's registry (serve it with `startMetricsServer`). */
  readonly registry: Registry;
  /**
   * Hot-path counters for the userspace relay (exported only in userspace mode or without a mode). Their
   * series are rendered by {@link metricsText}, not held in {@link registry}.
   */
  readonly relay: RelayMetrics;

  readonly #now: () => number;
  readonly #relay: RelayCounters;
  readonly #relayExported: boolean;
  readonly #m: MetricSet;
  /** The `ip_family` label of this handle's per-sync series; empty on the root handle. */
  readonly #labels: { readonly ip_family?: IPFamily };
  /** The per-family handles, shared by the root handle and every family's. */
  readonly #families: Map<IPFamily, ProxyMetrics>;

  /** Set by {@link forFamily} for the one constructor call that makes a family's handle. */
  static #binding: { readonly of: ProxyMetrics; readonly family: IPFamily } | undefined;

  /**
   * @param options mode (which metrics to register), default metrics, clock
   */
  constructor(options: ProxyMetricsOptions = {}) {
    const binding = ProxyMetrics.#binding;
    ProxyMetrics.#binding = undefined;
    if (binding !== undefined) {
      const { of, family } = binding;
      this.registry = of.registry;
      this.#now = of.#now;
      this.#relay = of.#relay;
      this.#relayExported = of.#relayExported;
      this.#m = of.#m;
      this.#families = of.#families;
      this.#labels = { ip_family: family };
      this.relay = this.#relay;
      return;
    }
    this.registry = new Registry();
    this.#now = options.now ?? Date.now;
    this.#relay = new RelayCounters();
    this.#relayExported = options.mode === undefined || options.mode === 'userspace';
    this.#m = registerMetrics(this.registry, options.mode);
    this.#families = new Map();
    this.#labels = {};
    this.relay = this.#relay;
    // Series present from the start (0), not only after the first sync, so that alerts see them.
    zeroSeries(this.#m, this.#labels);
    if (options.defaultMetrics === true) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * The handle of one IP family's Proxier: the same registry and metrics, its per-sync series labelled
   * `ip_family` (upstream's label). The first call drops the unlabelled per-sync series of the root
   * handle (they would double every sum), and each family's series start at 0.
   *
   * @param family the family
   * @returns the family's handle (the same object at every call)
   * @example metrics.forFamily('IPv6').observeSync('full', 0.01, report)
   */
  forFamily(family: IPFamily): ProxyMetrics {
    if (this.#labels.ip_family === family) return this;
    let handle = this.#families.get(family);
    if (handle === undefined) {
      if (this.#families.size === 0) removeSeries(this.#m, {});
      ProxyMetrics.#binding = { of: this, family };
      handle = new ProxyMetrics();
      this.#families.set(family, handle);
      zeroSeries(this.#m, handle.#labels);
    }
    return handle;
  }

  /** The IP family of this handle's per-sync series (undefined: the root handle, unlabelled). */
  get ipFamily(): IPFamily | undefined {
    return this.#labels.ip_family;
  }

  /**
   * Records a successful sync: the duration histograms (overall and per kind), the last-sync timestamp and
   * the size of what was written.
   *
   * @param kind full or partial
   * @param seconds how long `Proxier.sync` took
   * @param report what the Proxier returned
   */
  observeSync(kind: SyncKind, seconds: number, report: SyncReport): void {
    const labels = this.#labels;
    this.#observeDuration(kind, seconds);
    this.#m.lastSync.set(labels, this.#now() / 1000);
    this.#m.lastServicePortsWritten.set(labels, report.servicePortsWritten);
    this.#m.lastRestoreBytes.set(labels, report.restoreBytes);
    this.#m.lastRestoreLines.set(labels, report.restoreLines);
  }

  /**
   * Records a failed sync. Its duration still counts (upstream observes every attempt); the last-sync
   * timestamp does not move.
   *
   * @param seconds how long the attempt took
   * @param kind the attempted kind when known (only then is the per-kind histogram observed)
   */
  observeFailedSync(seconds: number, kind?: SyncKind): void {
    this.#observeDuration(kind, seconds);
    this.#m.syncFailures.inc(this.#labels);
  }

  /**
   * Whether this node serves an IP family (`kproxy_ip_family_available`): 0 when the host cannot (IPv6
   * disabled, ip6tables missing), which the daemon also logs once.
   *
   * @param family the family
   * @param available whether it is served
   */
  ipFamilyAvailable(family: 'IPv4' | 'IPv6', available: boolean): void {
    this.#m.ipFamilyAvailable.set({ ip_family: family }, available ? 1 : 0);
  }

  /** Counts damage the integrity check found between syncs (`--rules-check-period`); a repair follows. */
  damageFound(): void {
    this.#m.repairs.inc();
  }

  /**
   * Counts a failed iptables-restore (ipvsadm-restore in ipvs mode). A failed partial restore counts in
   * both counters, as upstream (the proxier then falls back to a full sync).
   *
   * @param kind what the failed restore was
   */
  restoreFailure(kind: SyncKind): void {
    this.#m.restoreFailures.inc(this.#labels);
    if (kind === 'partial') this.#m.partialRestoreFailures.inc(this.#labels);
  }

  /** Counts an `nft -f` transaction of a sync that failed (the nftables mode; the next sync is full). */
  nftablesSyncFailure(): void {
    this.#m.nftablesSyncFailures.inc(this.#labels);
  }

  /** Counts a failed deletion of stale nftables chains (the nftables mode retries it at the next sync). */
  nftablesCleanupFailure(): void {
    this.#m.nftablesCleanupFailures.inc(this.#labels);
  }

  /**
   * Records network programming latency for every change a successful sync put in place: the time from
   * the change to now. A change's time is its EndpointSlice's `endpoints.kubernetes.io/last-change-trigger-time`
   * when it has one (when a pod became ready, say, as upstream measures), else when kproxy first saw it
   * (the tracker decides, see `StateChange.firstSeen`). Clock skew (a trigger time set by a controller
   * whose clock runs ahead) never yields a negative observation.
   *
   * @param firstSeenMs when each change happened (`StateChange.firstSeen.values()`), epoch ms
   * @param nowMs when the rules were in place, epoch ms
   * @example metrics.observeProgrammingLatency(change.firstSeen.values(), clock.now())
   */
  observeProgrammingLatency(firstSeenMs: Iterable<number>, nowMs: number): void {
    for (const seen of firstSeenMs) this.#m.programmingLatency.observe(Math.max(0, nowMs - seen) / 1000);
  }

  /**
   * Sets the number of changes waiting for a sync (0 after a successful sync).
   *
   * @param serviceChanges pending service changes
   * @param endpointChanges pending endpoint-slice changes
   */
  setPending(serviceChanges: number, endpointChanges: number): void {
    this.#m.serviceChangesPending.set(serviceChanges);
    this.#m.endpointChangesPending.set(endpointChanges);
  }

  /**
   * Counts changes seen from the sources.
   *
   * @param serviceChanges service events
   * @param endpointChanges endpoint-slice (or Endpoints) events
   */
  countChanges(serviceChanges: number, endpointChanges: number): void {
    if (serviceChanges > 0) this.#m.serviceChangesTotal.inc(serviceChanges);
    if (endpointChanges > 0) this.#m.endpointChangesTotal.inc(endpointChanges);
  }

  /**
   * Records that a sync was requested (the last-queued timestamp).
   *
   * @param atMs when, epoch ms (default: now)
   */
  syncQueued(atMs: number = this.#now()): void {
    this.#m.lastQueued.set(atMs / 1000);
  }

  /**
   * Sets how many service ports with a Local traffic policy have no local endpoints (see
   * `countNoLocalEndpoints`).
   *
   * @param counts per policy
   */
  noLocalEndpoints(counts: { readonly internal: number; readonly external: number }): void {
    this.#m.noLocalEndpoints.set({ ...this.#labels, traffic_policy: 'internal' }, counts.internal);
    this.#m.noLocalEndpoints.set({ ...this.#labels, traffic_policy: 'external' }, counts.external);
  }

  /**
   * Sets an iptables table's rule counts (iptables mode).
   *
   * @param table the table
   * @param counts `total`: rules kproxy owns in it now; `lastSync`: rules the last sync wrote to it
   */
  iptablesRules(table: IptablesTable, counts: { readonly total: number; readonly lastSync: number }): void {
    this.#m.iptablesRules.set({ ...this.#labels, table }, counts.total);
    this.#m.iptablesRulesLast.set({ ...this.#labels, table }, counts.lastSync);
  }

  /**
   * Counts one answer of `/healthz` or `/livez` (called by the health server).
   *
   * @param endpoint which probe
   * @param code the HTTP status sent
   */
  healthProbe(endpoint: HealthEndpoint, code: number): void {
    const counter = endpoint === 'healthz' ? this.#m.healthzTotal : this.#m.livezTotal;
    counter.inc({ code: String(code) });
  }

  /**
   * Renders every metric in the Prometheus text format: the registry's, then the relay's.
   *
   * @returns the exposition text
   */
  async metricsText(): Promise<string> {
    const text = await this.registry.metrics();
    return this.#relayExported ? `${text}\n${this.#relay.render()}` : text;
  }

  /** The content type of {@link metricsText}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  #observeDuration(kind: SyncKind | undefined, seconds: number): void {
    this.#m.syncDuration.observe(this.#labels, seconds);
    if (kind === 'full') this.#m.syncFullDuration.observe(this.#labels, seconds);
    else if (kind === 'partial') this.#m.syncPartialDuration.observe(this.#labels, seconds);
  }
}
