import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import type { SyncReport } from '../contracts/sync.ts';
import { EMPTY_CHANGE } from '../model/state_change.ts';
import { endpoint, proxyState, servicePortState } from '../model/testing/fixtures.ts';
import type { Endpoint, ProxyState, ServicePortState } from '../model/types.ts';
import { healthObserver, serviceHealthObserver } from './health_observers.ts';
import { HealthState } from './health_state.ts';
import { ServiceHealthServer } from './service_health.ts';

const REPORT: SyncReport = { kind: 'full', servicePortsWritten: 0, restoreBytes: 0, restoreLines: 0 };

function lbPort(name: string, healthCheckNodePort: number, endpoints: readonly Endpoint[]): ServicePortState {
  return servicePortState({
    namespace: 'shop',
    serviceName: name,
    type: 'LoadBalancer',
    nodePort: 30080,
    loadBalancerIPs: ['198.19.0.1'],
    externalTrafficPolicy: 'Local',
    healthCheckNodePort,
    allEndpoints: endpoints,
    clusterEndpoints: endpoints,
    localEndpoints: endpoints.filter((e) => e.isLocal),
    internalEndpoints: endpoints,
    externalEndpoints: endpoints.filter((e) => e.isLocal),
  });
}

describe('healthObserver', () => {
  it('drives HealthState from queued changes and sync results', () => {
    let t = 0;
    const health = new HealthState({ healthTimeoutMs: 1_000, now: () => t });
    const observer = healthObserver(health);
    observer.changeQueued?.(t);
    observer.syncStarted();
    t += 2_000;
    observer.syncFailed?.({ error: new Error('boom'), seconds: 2, at: t });
    assert.equal(health.health().healthy, false);
    observer.syncStarted();
    observer.syncSucceeded?.({
      report: REPORT,
      seconds: 0.1,
      change: EMPTY_CHANGE,
      state: emptyState(),
      at: t,
    });
    assert.equal(health.health().healthy, true);
    assert.equal(health.health().lastUpdated, t);
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise((resolve) => server.close(resolve));
  return address.port;
}

function emptyState(): ProxyState {
  return proxyState([], { nodeName: 'n1' });
}

describe('serviceHealthObserver', () => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const serviceHealth = new ServiceHealthServer({ bindAddresses: ['127.0.0.1'], proxyHealthy: () => true });
  after(() => serviceHealth.close());

  it('opens health checks for the synced state and logs what changed', async () => {
    const local = endpoint({ nodeName: 'n1', isLocal: true });
    const free = await freePort();
    const port = lbPort('web', free, [local]);
    serviceHealthObserver(serviceHealth, logger).syncSucceeded?.({
      report: REPORT,
      seconds: 0.1,
      change: EMPTY_CHANGE,
      state: proxyState([port], { version: 2, nodeName: 'n1' }),
      at: 0,
    });
    // The observer works in the background; syncs apply in order, so this one resolves after it.
    const again = await serviceHealth.sync(
      new Map([['shop/web', { namespace: 'shop', name: 'web', port: free, localEndpoints: 1 }]]),
    );
    assert.deepEqual(again.opened, [], 'the observer opened it already');
    assert.equal(serviceHealth.boundPort('shop/web'), free);
    const response = await fetch(`http://127.0.0.1:${free}/`, { signal: AbortSignal.timeout(2_000) });
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { localEndpoints: number }).localEndpoints, 1);
    assert.ok(lines.some((line) => /"service":"shop\/web".*Opened service health check/.test(line)));
  });
});
