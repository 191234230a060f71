import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SyncReport } from '../contracts/sync.ts';
import { ProxyMetrics } from './proxy_metrics.ts';
import { metricTypes, parseExposition, type Samples, seriesKey } from './testing/exposition.ts';

const REPORT: SyncReport = { kind: 'full', servicePortsWritten: 7, restoreBytes: 4096, restoreLines: 120 };
const SYNC_BOUNDS = [
  0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
];

async function scrape(metrics: ProxyMetrics): Promise<Samples> {
  return parseExposition(await metrics.metricsText());
}

function value(samples: Samples, name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.get(seriesKey(name, labels));
}

function bucket(samples: Samples, name: string, le: string): number | undefined {
  return value(samples, `${name}_bucket`, { le });
}

describe('ProxyMetrics', () => {
  it("exports kube-proxy's metric names with their types", async () => {
    const types = metricTypes(await new ProxyMetrics().metricsText());
    const expected: Record<string, string> = {
      kubeproxy_sync_proxy_rules_duration_seconds: 'histogram',
      kubeproxy_sync_full_proxy_rules_duration_seconds: 'histogram',
      kubeproxy_sync_partial_proxy_rules_duration_seconds: 'histogram',
      kubeproxy_network_programming_duration_seconds: 'histogram',
      kubeproxy_sync_proxy_rules_last_timestamp_seconds: 'gauge',
      kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds: 'gauge',
      kubeproxy_sync_proxy_rules_endpoint_changes_total: 'counter',
      kubeproxy_sync_proxy_rules_endpoint_changes_pending: 'gauge',
      kubeproxy_sync_proxy_rules_service_changes_total: 'counter',
      kubeproxy_sync_proxy_rules_service_changes_pending: 'gauge',
      kubeproxy_sync_proxy_rules_no_local_endpoints_total: 'gauge',
      kubeproxy_sync_proxy_rules_iptables_restore_failures_total: 'counter',
      kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total: 'counter',
      kubeproxy_sync_proxy_rules_iptables_total: 'gauge',
      kubeproxy_sync_proxy_rules_iptables_last: 'gauge',
      kubeproxy_proxy_healthz_total: 'counter',
      kubeproxy_proxy_livez_total: 'counter',
      kproxy_userspace_active_connections: 'gauge',
      kproxy_userspace_connections_total: 'counter',
      kproxy_userspace_received_bytes_total: 'counter',
      kproxy_userspace_sent_bytes_total: 'counter',
      kproxy_userspace_dial_retries_total: 'counter',
      kproxy_userspace_dial_failures_total: 'counter',
    };
    for (const [name, type] of Object.entries(expected)) assert.equal(types.get(name), type, name);
  });

  it('puts a full sync in the overall and full histograms, in the right bucket, and stamps the time', async () => {
    const metrics = new ProxyMetrics({ now: () => 1_700_000_000_500 });
    metrics.observeSync('full', 0.003, REPORT);
    const s = await scrape(metrics);
    for (const name of [
      'kubeproxy_sync_proxy_rules_duration_seconds',
      'kubeproxy_sync_full_proxy_rules_duration_seconds',
    ]) {
      for (const le of SYNC_BOUNDS)
        assert.equal(bucket(s, name, String(le)), le < 0.003 ? 0 : 1, `${name} le=${le}`);
      assert.equal(bucket(s, name, '16.384'), 1);
      assert.equal(bucket(s, name, '+Inf'), 1);
      assert.equal(value(s, `${name}_count`), 1);
      assert.equal(value(s, `${name}_sum`), 0.003);
    }
    assert.equal(value(s, 'kubeproxy_sync_partial_proxy_rules_duration_seconds_count'), 0);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_last_timestamp_seconds'), 1_700_000_000.5);
    assert.equal(value(s, 'kproxy_sync_proxy_rules_last_service_ports_written'), 7);
    assert.equal(value(s, 'kproxy_sync_proxy_rules_last_restore_bytes'), 4096);
    assert.equal(value(s, 'kproxy_sync_proxy_rules_last_restore_lines'), 120);
  });

  it('counts a failed sync in the durations and the failure counter, but leaves the last-sync time', async () => {
    let now = 1_000_000;
    const metrics = new ProxyMetrics({ now: () => now });
    metrics.observeSync('partial', 0.01, { ...REPORT, kind: 'partial' });
    now = 2_000_000;
    metrics.observeFailedSync(0.5, 'partial');
    metrics.observeFailedSync(0.02);
    const s = await scrape(metrics);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_duration_seconds_count'), 3);
    assert.equal(value(s, 'kubeproxy_sync_partial_proxy_rules_duration_seconds_count'), 2);
    assert.equal(bucket(s, 'kubeproxy_sync_partial_proxy_rules_duration_seconds', '0.256'), 1);
    assert.equal(bucket(s, 'kubeproxy_sync_partial_proxy_rules_duration_seconds', '0.512'), 2);
    assert.equal(value(s, 'kubeproxy_sync_full_proxy_rules_duration_seconds_count'), 0);
    assert.equal(value(s, 'kproxy_sync_proxy_rules_failures_total'), 2);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_last_timestamp_seconds'), 1000);
  });

  it('counts a failed partial restore in both restore-failure counters, a full one in one', async () => {
    const metrics = new ProxyMetrics();
    metrics.restoreFailure('partial');
    metrics.restoreFailure('full');
    metrics.restoreFailure('full');
    const s = await scrape(metrics);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total'), 3);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total'), 1);
  });

  it("measures network programming latency with upstream's buckets, never negative", async () => {
    const metrics = new ProxyMetrics();
    const now = 100_000;
    // 0.1 s, 0.3 s, 2 s, 61 s, 400 s, and a change "seen" in the future (clock skew).
    metrics.observeProgrammingLatency(
      [now - 100, now - 300, now - 2_000, now - 61_000, now - 400_000, now + 50],
      now,
    );
    const text = await metrics.metricsText();
    const s = parseExposition(text);
    const name = 'kubeproxy_network_programming_duration_seconds';
    const bounds = [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}`, 'gm'))].map((m) => m[1]);
    assert.equal(bounds.length, 1 + 2 + 59 + 12 + 7 + 1);
    assert.deepEqual(bounds.slice(0, 5), ['0', '0.25', '0.5', '1', '2']);
    assert.deepEqual(bounds.slice(-4), ['240', '270', '300', '+Inf']);
    assert.equal(bucket(s, name, '0'), 1, 'the skewed change counts as 0 s');
    assert.equal(bucket(s, name, '0.25'), 2);
    assert.equal(bucket(s, name, '0.5'), 3);
    assert.equal(bucket(s, name, '1'), 3);
    assert.equal(bucket(s, name, '2'), 4);
    assert.equal(bucket(s, name, '60'), 4);
    assert.equal(bucket(s, name, '65'), 5);
    assert.equal(bucket(s, name, '300'), 5);
    assert.equal(bucket(s, name, '+Inf'), 6);
    assert.equal(value(s, `${name}_count`), 6);
  });

  it('tracks changes seen, changes pending and the last queued time', async () => {
    const metrics = new ProxyMetrics({ now: () => 42_000 });
    metrics.countChanges(2, 5);
    metrics.countChanges(0, 1);
    metrics.setPending(1, 3);
    metrics.syncQueued();
    const s = await scrape(metrics);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_service_changes_total'), 2);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_endpoint_changes_total'), 6);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_service_changes_pending'), 1);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_endpoint_changes_pending'), 3);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds'), 42);
  });

  it('sets no-local-endpoint counts per traffic policy and iptables rule counts per table', async () => {
    const metrics = new ProxyMetrics();
    metrics.noLocalEndpoints({ internal: 2, external: 1 });
    metrics.iptablesRules('nat', { total: 300, lastSync: 12 });
    metrics.iptablesRules('filter', { total: 9, lastSync: 0 });
    const s = await scrape(metrics);
    const noLocal = 'kubeproxy_sync_proxy_rules_no_local_endpoints_total';
    assert.equal(value(s, noLocal, { traffic_policy: 'internal' }), 2);
    assert.equal(value(s, noLocal, { traffic_policy: 'external' }), 1);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_iptables_total', { table: 'nat' }), 300);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_iptables_last', { table: 'nat' }), 12);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_iptables_total', { table: 'filter' }), 9);
  });

  it('counts health probe answers per endpoint and code', async () => {
    const metrics = new ProxyMetrics();
    metrics.healthProbe('healthz', 200);
    metrics.healthProbe('healthz', 503);
    metrics.healthProbe('healthz', 200);
    metrics.healthProbe('livez', 200);
    const s = await scrape(metrics);
    assert.equal(value(s, 'kubeproxy_proxy_healthz_total', { code: '200' }), 2);
    assert.equal(value(s, 'kubeproxy_proxy_healthz_total', { code: '503' }), 1);
    assert.equal(value(s, 'kubeproxy_proxy_livez_total', { code: '200' }), 1);
  });

  it('registers per mode what kube-proxy registers (userspace series only in userspace mode)', async () => {
    const userspace = metricTypes(await new ProxyMetrics({ mode: 'userspace' }).metricsText());
    assert.ok(userspace.has('kproxy_userspace_connections_total'));
    assert.ok(userspace.has('kubeproxy_sync_proxy_rules_iptables_restore_failures_total'));
    assert.ok(!userspace.has('kubeproxy_sync_proxy_rules_iptables_total'));
    assert.ok(!userspace.has('kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total'));
    const ipvs = metricTypes(await new ProxyMetrics({ mode: 'ipvs' }).metricsText());
    assert.ok(!ipvs.has('kproxy_userspace_connections_total'));
    assert.ok(!ipvs.has('kubeproxy_sync_proxy_rules_iptables_last'));
    assert.ok(ipvs.has('kubeproxy_network_programming_duration_seconds'));
    const iptables = metricTypes(await new ProxyMetrics({ mode: 'iptables' }).metricsText());
    assert.ok(iptables.has('kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total'));
    assert.ok(!iptables.has('kproxy_userspace_active_connections'));
    assert.ok(!iptables.has('kubeproxy_sync_proxy_rules_nftables_sync_failures_total'));
    const nftables = metricTypes(await new ProxyMetrics({ mode: 'nftables' }).metricsText());
    assert.equal(nftables.get('kubeproxy_sync_proxy_rules_nftables_sync_failures_total'), 'counter');
    assert.equal(nftables.get('kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total'), 'counter');
    assert.ok(nftables.has('kubeproxy_sync_full_proxy_rules_duration_seconds'));
    assert.ok(nftables.has('kubeproxy_sync_partial_proxy_rules_duration_seconds'));
    assert.ok(!nftables.has('kubeproxy_sync_proxy_rules_iptables_restore_failures_total'));
    assert.ok(!nftables.has('kubeproxy_sync_proxy_rules_iptables_total'));
    assert.ok(!nftables.has('kproxy_userspace_connections_total'));
  });

  it('counts nftables sync and cleanup failures', async () => {
    const metrics = new ProxyMetrics({ mode: 'nftables' });
    metrics.nftablesSyncFailure();
    metrics.nftablesCleanupFailure();
    metrics.nftablesCleanupFailure();
    const s = await scrape(metrics);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_nftables_sync_failures_total'), 1);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total'), 2);
  });

  it('labels per-sync series with ip_family once asked for a family, and drops the unlabelled ones', async () => {
    const metrics = new ProxyMetrics({ mode: 'iptables', now: () => 5_000 });
    const before = await scrape(metrics);
    assert.equal(
      value(before, 'kubeproxy_sync_proxy_rules_duration_seconds_count'),
      0,
      'unlabelled at first',
    );
    const v4 = metrics.forFamily('IPv4');
    const v6 = metrics.forFamily('IPv6');
    assert.equal(metrics.forFamily('IPv6'), v6, 'one handle per family');
    assert.equal(v6.forFamily('IPv6'), v6);
    assert.equal(v6.forFamily('IPv4'), v4);
    assert.equal(metrics.ipFamily, undefined);
    assert.equal(v6.ipFamily, 'IPv6');
    assert.equal(v6.registry, metrics.registry);
    assert.equal(v6.relay, metrics.relay);
    v6.observeSync('full', 0.003, REPORT);
    v6.restoreFailure('partial');
    v6.noLocalEndpoints({ internal: 1, external: 2 });
    v4.iptablesRules('nat', { total: 30, lastSync: 3 });
    v6.iptablesRules('nat', { total: 40, lastSync: 4 });
    v4.observeFailedSync(0.1);
    // Tracker-level metrics are one per daemon: no label, whichever handle records them.
    v6.countChanges(1, 2);
    v4.syncQueued();
    const s = await scrape(metrics);
    const f4 = { ip_family: 'IPv4' };
    const f6 = { ip_family: 'IPv6' };
    const name = 'kubeproxy_sync_proxy_rules_duration_seconds';
    assert.equal(value(s, `${name}_count`), undefined, 'no unlabelled series left');
    assert.equal(value(s, `${name}_count`, f6), 1);
    assert.equal(value(s, `${name}_count`, f4), 1, 'the failed IPv4 attempt');
    assert.equal(value(s, 'kubeproxy_sync_full_proxy_rules_duration_seconds_count', f6), 1);
    assert.equal(value(s, 'kubeproxy_sync_full_proxy_rules_duration_seconds_count', f4), 0);
    assert.equal(value(s, 'kubeproxy_sync_partial_proxy_rules_duration_seconds_count', f4), 0);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', f6), 5);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', f4), 0);
    assert.equal(value(s, 'kproxy_sync_proxy_rules_last_restore_bytes', f6), 4096);
    assert.equal(value(s, 'kproxy_sync_proxy_rules_failures_total', f4), 1);
    assert.equal(value(s, 'kproxy_sync_proxy_rules_failures_total', f6), 0);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total', f6), 1);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total', f6), 1);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total', f4), 0);
    const noLocal = 'kubeproxy_sync_proxy_rules_no_local_endpoints_total';
    assert.equal(value(s, noLocal, { traffic_policy: 'internal', ...f6 }), 1);
    assert.equal(value(s, noLocal, { traffic_policy: 'external', ...f6 }), 2);
    assert.equal(value(s, noLocal, { traffic_policy: 'external', ...f4 }), 0);
    assert.equal(value(s, noLocal, { traffic_policy: 'external' }), undefined);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_iptables_total', { table: 'nat', ...f4 }), 30);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_iptables_last', { table: 'nat', ...f6 }), 4);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_service_changes_total'), 1);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_endpoint_changes_total'), 2);
    assert.equal(value(s, 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds'), 5);
  });

  it('creates only the series of the families asked for (a host without IPv6 has no IPv6 series)', async () => {
    const metrics = new ProxyMetrics({ mode: 'nftables' });
    metrics.forFamily('IPv4');
    metrics.ipFamilyAvailable('IPv4', true);
    metrics.ipFamilyAvailable('IPv6', false);
    const text = await metrics.metricsText();
    assert.doesNotMatch(text, /^kubeproxy_[a-z_]+\{[^}]*ip_family="IPv6"/m);
    const s = parseExposition(text);
    assert.equal(
      value(s, 'kubeproxy_sync_proxy_rules_nftables_sync_failures_total', { ip_family: 'IPv4' }),
      0,
    );
    assert.equal(value(s, 'kproxy_ip_family_available', { ip_family: 'IPv4' }), 1);
    assert.equal(value(s, 'kproxy_ip_family_available', { ip_family: 'IPv6' }), 0);
  });

  it('keeps each instance in its own registry', async () => {
    const a = new ProxyMetrics();
    const b = new ProxyMetrics();
    a.countChanges(3, 0);
    assert.equal(value(await scrape(a), 'kubeproxy_sync_proxy_rules_service_changes_total'), 3);
    assert.equal(value(await scrape(b), 'kubeproxy_sync_proxy_rules_service_changes_total'), 0);
  });

  it('exports process and Node.js metrics only when asked', async () => {
    const withDefaults = metricTypes(await new ProxyMetrics({ defaultMetrics: true }).metricsText());
    assert.ok(withDefaults.has('process_cpu_seconds_total'));
    assert.ok(withDefaults.has('nodejs_eventloop_lag_seconds'));
    const without = metricTypes(await new ProxyMetrics().metricsText());
    assert.ok(![...without.keys()].some((name) => name.startsWith('process_') || name.startsWith('nodejs_')));
  });
});

describe('ProxyMetrics.relay', () => {
  it('counts connections, bytes, retries and failures per service port', async () => {
    const metrics = new ProxyMetrics({ mode: 'userspace' });
    const web = metrics.relay.servicePort('default/web:http/TCP');
    const dns = metrics.relay.servicePort('kube-system/dns:dns/UDP');
    assert.equal(metrics.relay.servicePort('default/web:http/TCP'), web, 'one handle per key');
    web.connectionOpened();
    web.connectionOpened();
    web.connectionOpened();
    web.dialRetry();
    web.connectionClosed(100, 2_000);
    web.bytesTransferred(10, 20);
    web.connectionClosed(5, 7);
    dns.connectionOpened();
    dns.dialFailure();
    dns.connectionClosed(0, 0);
    const s = await scrape(metrics);
    const l = { service_port: 'default/web:http/TCP' };
    assert.equal(value(s, 'kproxy_userspace_active_connections', l), 1);
    assert.equal(value(s, 'kproxy_userspace_connections_total', l), 3);
    assert.equal(value(s, 'kproxy_userspace_received_bytes_total', l), 115);
    assert.equal(value(s, 'kproxy_userspace_sent_bytes_total', l), 2_027);
    assert.equal(value(s, 'kproxy_userspace_dial_retries_total', l), 1);
    assert.equal(value(s, 'kproxy_userspace_dial_failures_total', l), 0);
    const d = { service_port: 'kube-system/dns:dns/UDP' };
    assert.equal(value(s, 'kproxy_userspace_active_connections', d), 0);
    assert.equal(value(s, 'kproxy_userspace_dial_failures_total', d), 1);
  });

  it('stops exporting a forgotten service port', async () => {
    const metrics = new ProxyMetrics({ mode: 'userspace' });
    metrics.relay.servicePort('default/old:/TCP').connectionOpened();
    metrics.relay.servicePort('default/new:/TCP').connectionOpened();
    metrics.relay.forget('default/old:/TCP');
    const s = await scrape(metrics);
    assert.equal(
      value(s, 'kproxy_userspace_connections_total', { service_port: 'default/old:/TCP' }),
      undefined,
    );
    assert.equal(value(s, 'kproxy_userspace_connections_total', { service_port: 'default/new:/TCP' }), 1);
  });

  it('escapes service port keys in label values', async () => {
    const metrics = new ProxyMetrics({ mode: 'userspace' });
    metrics.relay.servicePort('ns/we"b\\x:p/TCP').connectionOpened();
    const s = await scrape(metrics);
    assert.equal(value(s, 'kproxy_userspace_connections_total', { service_port: 'ns/we"b\\x:p/TCP' }), 1);
  });
});
