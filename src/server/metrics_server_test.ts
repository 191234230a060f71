import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { SyncReport } from '../contracts/sync.ts';
import { ProxyMetrics } from '../metrics/proxy_metrics.ts';
import { parseExposition, type Samples, seriesKey } from '../metrics/testing/exposition.ts';
import { HealthState } from './health_state.ts';
import { startHealthServer } from './healthz.ts';
import { formatBindAddress, type RunningServer } from './http_listen.ts';
import { startMetricsServer } from './metrics_server.ts';

async function get(server: RunningServer, path: string): Promise<Response> {
  return fetch(`http://${formatBindAddress(server.address)}${path}`, { signal: AbortSignal.timeout(2_000) });
}

async function scrape(server: RunningServer): Promise<Samples> {
  const response = await get(server, '/metrics');
  assert.equal(response.status, 200);
  return parseExposition(await response.text());
}

function report(kind: SyncReport['kind'], servicePortsWritten: number): SyncReport {
  return {
    kind,
    servicePortsWritten,
    restoreBytes: servicePortsWritten * 100,
    restoreLines: servicePortsWritten * 4,
  };
}

describe('startMetricsServer', () => {
  let now = Date.UTC(2024, 5, 1, 12);
  const metrics = new ProxyMetrics({ mode: 'iptables', now: () => now });
  let server: RunningServer;

  before(async () => {
    server = await startMetricsServer({ bindAddress: '127.0.0.1:0', metrics });
  });
  after(() => server.close());

  it("serves the registry's text format", async () => {
    const response = await get(server, '/metrics');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), metrics.contentType);
    assert.match(await response.text(), /^# HELP kubeproxy_sync_proxy_rules_duration_seconds /m);
  });

  it('moves counters and histograms exactly as a sequence of syncs dictates', async () => {
    const before = await scrape(server);
    const d = (name: string, labels: Record<string, string> = {}) => {
      const key = seriesKey(name, labels);
      return (after: Samples) => (after.get(key) ?? Number.NaN) - (before.get(key) ?? 0);
    };
    // A first full sync of 120 service ports after 40 service and 300 endpoint events...
    metrics.countChanges(40, 300);
    metrics.syncQueued();
    now += 1_000;
    metrics.observeSync('full', 0.7, report('full', 120));
    metrics.observeProgrammingLatency([now - 1_000, now - 900], now);
    // ...two partial syncs, one failed partial restore that fell back to a (failed) full one...
    metrics.countChanges(0, 2);
    now += 5_000;
    metrics.observeSync('partial', 0.012, report('partial', 1));
    metrics.observeProgrammingLatency([now - 30], now);
    metrics.restoreFailure('partial');
    metrics.observeFailedSync(0.02, 'partial');
    metrics.restoreFailure('full');
    metrics.observeFailedSync(0.9, 'full');
    now += 1_000;
    metrics.observeSync('partial', 0.003, report('partial', 2));
    metrics.observeProgrammingLatency([now - 1_500], now);

    const after = await scrape(server);
    const all = 'kubeproxy_sync_proxy_rules_duration_seconds';
    const full = 'kubeproxy_sync_full_proxy_rules_duration_seconds';
    const partial = 'kubeproxy_sync_partial_proxy_rules_duration_seconds';
    assert.equal(d(`${all}_count`)(after), 5);
    assert.equal(d(`${all}_bucket`, { le: '0.004' })(after), 1);
    assert.equal(d(`${all}_bucket`, { le: '0.016' })(after), 2);
    assert.equal(d(`${all}_bucket`, { le: '0.032' })(after), 3);
    assert.equal(d(`${all}_bucket`, { le: '0.512' })(after), 3);
    assert.equal(d(`${all}_bucket`, { le: '1.024' })(after), 5);
    assert.equal(d(`${full}_count`)(after), 2);
    assert.equal(d(`${full}_bucket`, { le: '0.512' })(after), 0);
    assert.equal(d(`${full}_bucket`, { le: '1.024' })(after), 2);
    assert.equal(d(`${partial}_count`)(after), 3);
    assert.equal(d(`${partial}_bucket`, { le: '0.004' })(after), 1);
    assert.equal(d(`${partial}_bucket`, { le: '0.032' })(after), 3);
    assert.ok(Math.abs(d(`${partial}_sum`)(after) - 0.035) < 1e-9);

    const latency = 'kubeproxy_network_programming_duration_seconds';
    assert.equal(d(`${latency}_count`)(after), 4);
    assert.equal(d(`${latency}_bucket`, { le: '0.25' })(after), 1);
    assert.equal(d(`${latency}_bucket`, { le: '1' })(after), 3);
    assert.equal(d(`${latency}_bucket`, { le: '2' })(after), 4);

    assert.equal(d('kubeproxy_sync_proxy_rules_service_changes_total')(after), 40);
    assert.equal(d('kubeproxy_sync_proxy_rules_endpoint_changes_total')(after), 302);
    assert.equal(d('kubeproxy_sync_proxy_rules_iptables_restore_failures_total')(after), 2);
    assert.equal(d('kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total')(after), 1);
    assert.equal(d('kproxy_sync_proxy_rules_failures_total')(after), 2);
    assert.equal(after.get('kubeproxy_sync_proxy_rules_last_timestamp_seconds'), now / 1000);
    assert.equal(
      after.get('kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds'),
      Date.UTC(2024, 5, 1, 12) / 1000,
    );
    assert.equal(after.get('kproxy_sync_proxy_rules_last_service_ports_written'), 2);
  });

  it('answers ok on /healthz and 404 elsewhere', async () => {
    const healthz = await get(server, '/healthz');
    assert.equal(healthz.status, 200);
    assert.equal(await healthz.text(), 'ok');
    assert.equal((await get(server, '/')).status, 404);
    assert.equal((await get(server, '/metricsx')).status, 404);
    assert.equal((await get(server, '/proxyMode')).status, 404, 'no mode given');
    assert.equal((await get(server, '/configz')).status, 404, 'no configuration given');
  });

  it("answers /proxyMode with the mode's name and /configz with the configuration, as kube-proxy", async () => {
    let syncPeriod = '30s';
    const configured = await startMetricsServer({
      bindAddress: '127.0.0.1:0',
      metrics,
      proxyMode: 'nftables',
      configz: () => ({
        'kubeproxy.config.k8s.io': { kind: 'KubeProxyConfiguration', mode: 'nftables', syncPeriod },
      }),
    });
    try {
      const mode = await get(configured, '/proxyMode');
      assert.equal(mode.status, 200);
      assert.equal(mode.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.equal(await mode.text(), 'nftables');
      const configz = await get(configured, '/configz');
      assert.equal(configz.status, 200);
      assert.equal(configz.headers.get('content-type'), 'application/json');
      assert.deepEqual(await configz.json(), {
        'kubeproxy.config.k8s.io': { kind: 'KubeProxyConfiguration', mode: 'nftables', syncPeriod: '30s' },
      });
      syncPeriod = '1m0s';
      const later = (await (await get(configured, '/configz')).json()) as Record<
        string,
        { syncPeriod: string }
      >;
      assert.equal(later['kubeproxy.config.k8s.io']?.syncPeriod, '1m0s', 'rendered on each request');
    } finally {
      await configured.close();
    }
  });

  it('answers 500 with the reason when the metrics cannot be rendered', async () => {
    const broken = await startMetricsServer({
      bindAddress: '127.0.0.1:0',
      metrics: {
        contentType: 'text/plain',
        metricsText: () => Promise.reject(new Error('collector exploded')),
      },
    });
    try {
      const response = await get(broken, '/metrics');
      assert.equal(response.status, 500);
      assert.match(await response.text(), /^Cannot render metrics: collector exploded/);
    } finally {
      await broken.close();
    }
  });
});

describe('health and metrics servers during a sync', () => {
  const health = new HealthState({ healthTimeoutMs: 60_000 });
  const metrics = new ProxyMetrics({ defaultMetrics: true });
  let healthServer: RunningServer;
  let metricsServer: RunningServer;

  before(async () => {
    healthServer = await startHealthServer({ bindAddress: '127.0.0.1:0', health, metrics });
    metricsServer = await startMetricsServer({ bindAddress: '127.0.0.1:0', metrics });
  });
  after(async () => {
    await healthServer.close();
    await metricsServer.close();
  });

  it('answer while a sync waits for its kernel tool (a child process)', async () => {
    // The sync as the daemon runs it: spawn the restore tool and await it, here a 1.5 s child.
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 1500)'], { stdio: 'ignore' });
    const exited = once(child, 'exit');
    let syncDone = false;
    const sync = (async () => {
      health.syncStarted();
      const t0 = performance.now();
      await exited;
      syncDone = true;
      health.updated();
      metrics.observeSync('full', (performance.now() - t0) / 1000, report('full', 1));
    })();
    await once(child, 'spawn');
    try {
      const t0 = performance.now();
      const [healthz, scrape] = await Promise.all([
        get(healthServer, '/healthz'),
        get(metricsServer, '/metrics'),
      ]);
      const elapsedMs = performance.now() - t0;
      assert.equal(syncDone, false, 'both answered before the sync finished');
      assert.equal(healthz.status, 200);
      assert.equal(scrape.status, 200);
      assert.match(await scrape.text(), /^nodejs_eventloop_lag_seconds /m);
      assert.ok(elapsedMs < 1_000, `answered in ${elapsedMs.toFixed(0)} ms`);
    } finally {
      await sync;
    }
  });
});
