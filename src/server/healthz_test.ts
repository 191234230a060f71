import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ProxyMetrics } from '../metrics/proxy_metrics.ts';
import { parseExposition, seriesKey } from '../metrics/testing/exposition.ts';
import { HealthState } from './health_state.ts';
import { healthzAnswer, startHealthServer } from './healthz.ts';
import { formatBindAddress, ListenError, type RunningServer } from './http_listen.ts';

const TIMEOUT = 60_000;

async function get(
  server: RunningServer,
  path: string,
): Promise<{ status: number; type: string; body: string }> {
  const response = await fetch(`http://${formatBindAddress(server.address)}${path}`, {
    signal: AbortSignal.timeout(2_000),
  });
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    body: await response.text(),
  };
}

describe('healthzAnswer', () => {
  const base = { lastUpdated: Date.UTC(2024, 0, 1), currentTime: Date.UTC(2024, 0, 1, 0, 5) };

  it('reports lastUpdated as the current time while healthy (upstream compatibility)', () => {
    const { status, body } = healthzAnswer(
      'healthz',
      { ...base, healthy: true, oldestPendingQueued: undefined },
      true,
    );
    assert.equal(status, 200);
    assert.deepEqual(body, {
      lastUpdated: '2024-01-01T00:05:00.000Z',
      currentTime: '2024-01-01T00:05:00.000Z',
      nodeEligible: true,
      healthy: true,
    });
  });

  it('reports the real last sync when unhealthy, and Go zero time when there never was one', () => {
    const stuck = { ...base, healthy: false, oldestPendingQueued: base.lastUpdated };
    assert.equal(healthzAnswer('livez', stuck, true).body.lastUpdated, '2024-01-01T00:00:00.000Z');
    const never = { ...stuck, lastUpdated: undefined };
    assert.deepEqual(healthzAnswer('livez', never, true), {
      status: 503,
      body: {
        lastUpdated: '0001-01-01T00:00:00.000Z',
        currentTime: '2024-01-01T00:05:00.000Z',
        healthy: false,
      },
    });
  });

  it('fails /healthz but not /livez for a node that is not eligible', () => {
    const healthy = { ...base, healthy: true, oldestPendingQueued: undefined };
    assert.equal(healthzAnswer('healthz', healthy, false).status, 503);
    assert.equal(healthzAnswer('healthz', healthy, false).body.healthy, true, 'healthy is the proxy health');
    assert.equal(healthzAnswer('livez', healthy, false).status, 200);
  });
});

describe('startHealthServer', () => {
  let t = Date.UTC(2024, 5, 1);
  const health = new HealthState({ healthTimeoutMs: TIMEOUT, now: () => t });
  const metrics = new ProxyMetrics();
  const stop = new AbortController();
  let server: RunningServer;

  before(async () => {
    server = await startHealthServer({ bindAddress: '127.0.0.1:0', health, metrics, signal: stop.signal });
  });
  after(() => server.close());

  it('answers 200 with JSON while syncs keep up', async () => {
    health.queuedUpdate();
    health.syncStarted();
    t += 1_000;
    health.updated();
    const response = await get(server, '/healthz');
    assert.equal(response.status, 200);
    assert.equal(response.type, 'application/json');
    const now = new Date(t).toISOString();
    assert.deepEqual(JSON.parse(response.body), {
      lastUpdated: now,
      currentTime: now,
      nodeEligible: true,
      healthy: true,
    });
  });

  it('flips to 503 when syncs fail past the timeout, and back to 200 on success', async () => {
    const lastGood = new Date(t).toISOString();
    health.queuedUpdate();
    for (let i = 0; i < 3; i++) {
      health.syncStarted();
      t += TIMEOUT / 2;
      health.syncFailed();
    }
    const failing = await get(server, '/healthz');
    assert.equal(failing.status, 503);
    assert.equal(JSON.parse(failing.body).lastUpdated, lastGood);
    assert.equal((await get(server, '/livez')).status, 503);

    health.syncStarted();
    t += 200;
    health.updated();
    assert.equal((await get(server, '/healthz')).status, 200);
    assert.equal((await get(server, '/livez')).status, 200);
  });

  it('fails /healthz, not /livez, while the node is not eligible', async () => {
    health.setNodeEligible(false);
    try {
      const healthz = await get(server, '/healthz');
      assert.equal(healthz.status, 503);
      assert.equal(JSON.parse(healthz.body).nodeEligible, false);
      const livez = await get(server, '/livez');
      assert.equal(livez.status, 200);
      assert.equal('nodeEligible' in JSON.parse(livez.body), false);
    } finally {
      health.setNodeEligible(true);
    }
  });

  it('answers 404 elsewhere and ignores query strings', async () => {
    assert.equal((await get(server, '/')).status, 404);
    assert.equal((await get(server, '/metrics')).status, 404);
    assert.equal((await get(server, '/healthz?verbose=1')).status, 200);
  });

  it('counts every probe answer by endpoint and code', async () => {
    const s = parseExposition(await metrics.metricsText());
    // The probes sent by the tests above: /healthz 200 (keeping up, recovered, query string), 503 (failing,
    // not eligible); /livez 200 (recovered, not eligible), 503 (failing).
    assert.equal(s.get(seriesKey('kubeproxy_proxy_healthz_total', { code: '200' })), 3);
    assert.equal(s.get(seriesKey('kubeproxy_proxy_healthz_total', { code: '503' })), 2);
    assert.equal(s.get(seriesKey('kubeproxy_proxy_livez_total', { code: '200' })), 2);
    assert.equal(s.get(seriesKey('kubeproxy_proxy_livez_total', { code: '503' })), 1);
  });

  it('stops listening when its signal aborts', async () => {
    stop.abort();
    // No close() call: the abort alone must stop the server (within the current turn of the loop).
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(get(server, '/healthz'));
  });
});

describe('startHealthServer errors', () => {
  it('reports a port in use as a ListenError', async () => {
    const health = new HealthState({ healthTimeoutMs: TIMEOUT });
    const first = await startHealthServer({ bindAddress: '127.0.0.1:0', health });
    try {
      await assert.rejects(
        startHealthServer({ bindAddress: `127.0.0.1:${first.address.port}`, health }),
        (error: unknown) =>
          error instanceof ListenError && error.code === 'KPROXY_LISTEN' && /EADDRINUSE/.test(error.message),
      );
    } finally {
      await first.close();
    }
  });
});
