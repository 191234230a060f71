/**
 * The API server source end to end: a fake kube-apiserver on 127.0.0.1, a kubeconfig pointing at it,
 * and the exact stream of SourceEvents the tracker would receive.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { formatProblem } from '../../model/problem.ts';
import type { NodeEvent, SourceEvent } from '../source.ts';
import { type ApiServerSource, type ApiServerTuning, createApiServerSource } from './api_server_source.ts';
import { type SourceClock, systemClock } from './clock.ts';
import { FakeApiServer, type FakeApiServerOptions } from './testing/fake_apiserver.ts';
import { endpointSlice, endpoints, node, service } from './testing/fixtures.ts';
import { captureLogs, type LogCapture } from './testing/log_capture.ts';
import { waitFor } from './testing/wait_for.ts';

const TUNING: ApiServerTuning = {
  backoff: { initialMs: 20, maxMs: 160, factor: 2, jitter: 0 },
  watchTimeoutSeconds: 30,
  requestDeadlineMs: 2000,
};

/** A clock whose `now` the test sets (event timestamps) and whose sleeps are real (backoff). */
class TestClock implements SourceClock {
  current = 1_700_000_000_000;
  now(): number {
    return this.current;
  }
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return systemClock.sleep(ms, signal);
  }
}

interface Harness {
  readonly api: FakeApiServer;
  readonly source: ApiServerSource;
  readonly events: SourceEvent[];
  readonly clock: TestClock;
  readonly log: LogCapture;
  readonly nodeEvents: NodeEvent[];
  /** The events as short lines: `add Service default/web`, `delete Endpoints default/web`, `synced`. */
  lines(from?: number): string[];
}

function describeEvent(e: SourceEvent): string {
  switch (e.type) {
    case 'add':
    case 'update': {
      const legacy = e.object.kind === 'EndpointSlice' && e.object.spec.legacy ? ' (legacy)' : '';
      return `${e.type} ${e.object.kind} ${e.object.spec.namespace}/${e.object.spec.name}${legacy}`;
    }
    case 'delete': {
      const kind = e.ref.kind === 'EndpointSlice' && e.ref.legacy ? 'Endpoints' : e.ref.kind;
      return `delete ${kind} ${e.ref.namespace}/${e.ref.name}`;
    }
    case 'synced':
      return 'synced';
    case 'problem':
      return `problem ${formatProblem(e.problem)}`;
    default: {
      const never: never = e;
      return String(never);
    }
  }
}

async function startSource(
  t: TestContext,
  setup: {
    readonly fake?: FakeApiServerOptions;
    readonly seed?: (api: FakeApiServer) => void;
    readonly tuning?: ApiServerTuning;
    readonly recordEvents?: boolean;
  } = {},
): Promise<Harness> {
  const api = await FakeApiServer.start({ token: 'kpt-token', ...setup.fake });
  const dir = mkdtempSync(join(tmpdir(), 'kpt-apisource-'));
  setup.seed?.(api);
  const clock = new TestClock();
  const log = captureLogs();
  const events: SourceEvent[] = [];
  const nodeEvents: NodeEvent[] = [];
  const source = createApiServerSource({
    kubeconfigPath: api.writeKubeconfig(dir),
    nodeName: 'node-1',
    logger: log.logger,
    clock,
    tuning: { ...TUNING, ...setup.tuning },
    recordEvents: setup.recordEvents,
  });
  await source.start((e) => events.push(e), { onNode: (e) => nodeEvents.push(e) });
  t.after(async () => {
    await source.stop();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    api,
    source,
    events,
    clock,
    log,
    nodeEvents,
    lines: (from = 0) => events.slice(from).map(describeEvent),
  };
}

const PROXY_NAME = 'service.kubernetes.io/service-proxy-name';

describe('API server source', () => {
  it('emits Services and EndpointSlices, then synced, then follows changes', async (t) => {
    const h = await startSource(t, {
      seed: (api) => {
        api.upsert('services', service('default', 'web'));
        api.upsert('services', service('default', 'other-proxy', { labels: { [PROXY_NAME]: 'cilium' } }));
        api.upsert('services', service('default', 'headless', { clusterIP: 'None' }));
        api.upsert('endpointslices', endpointSlice('default', 'web-1', 'web'));
        api.upsert(
          'endpointslices',
          endpointSlice('default', 'db-1', 'db', { labels: { 'service.kubernetes.io/headless': '' } }),
        );
      },
    });
    await waitFor('synced', () => h.source.synced);
    const initial = h.lines();
    assert.equal(initial.at(-1), 'synced', 'synced comes after both initial lists');
    assert.deepEqual([...initial].sort(), [
      'add EndpointSlice default/web-1',
      'add Service default/web',
      'synced',
    ]);
    assert.ok(
      h.events.every((e) => e.type !== 'add' || e.at === 1_700_000_000_000),
      'at comes from the clock',
    );

    await waitFor('watching', () => h.api.openWatches === 3);
    h.clock.current += 1000;
    h.api.upsert('services', service('default', 'web', { port: 8080 }));
    h.api.upsert('endpointslices', endpointSlice('default', 'web-1', 'web', { addresses: ['198.18.1.2'] }));
    // Labelling a service for another proxy makes it leave the selection: the watch says DELETED.
    h.api.upsert('services', service('default', 'web', { port: 8080, labels: { [PROXY_NAME]: 'cilium' } }));
    h.api.remove('endpointslices', 'default', 'web-1');
    await waitFor('four changes', () => h.events.length === 7);
    // Services and slices arrive on separate streams: the order holds within each kind.
    const changes = h.lines(3);
    assert.deepEqual(
      changes.filter((l) => l.includes(' Service ')),
      ['update Service default/web', 'delete Service default/web'],
    );
    assert.deepEqual(
      changes.filter((l) => l.includes(' EndpointSlice ')),
      ['update EndpointSlice default/web-1', 'delete EndpointSlice default/web-1'],
    );
    assert.ok(h.events.slice(3).every((e) => e.type !== 'add' || e.at === 1_700_000_001_000));
  });

  it('asks the server for what kube-proxy asks: selectors, bookmarks, only its own node', async (t) => {
    const h = await startSource(t);
    await waitFor('watching', () => h.api.openWatches === 3);
    const first = (resource: 'services' | 'endpointslices' | 'nodes', watch: boolean) =>
      (watch ? h.api.watchRequests(resource) : h.api.listRequests(resource))[0]?.query;
    for (const watch of [false, true]) {
      assert.equal(first('services', watch)?.labelSelector, `!${PROXY_NAME}`);
      assert.equal(first('services', watch)?.fieldSelector, 'spec.clusterIP!=None');
      assert.equal(
        first('endpointslices', watch)?.labelSelector,
        `!service.kubernetes.io/headless,!${PROXY_NAME}`,
      );
      assert.equal(first('nodes', watch)?.fieldSelector, 'metadata.name=node-1');
    }
    assert.equal(first('services', true)?.allowWatchBookmarks, 'true');
    assert.equal(first('endpointslices', true)?.allowWatchBookmarks, 'true');
  });

  it('reports synced only when both Services and EndpointSlices have been listed', async (t) => {
    const h = await startSource(t, {
      seed: (api) => {
        api.upsert('services', service('default', 'web'));
        api.failRequests(503, 'endpointslices');
      },
    });
    await waitFor(
      'services listed, slices failing',
      () => h.events.length === 1 && h.log.withMessage('List failed').length >= 2,
    );
    assert.deepEqual(h.lines(), ['add Service default/web']);
    assert.equal(h.source.synced, false);

    h.api.failRequests(undefined);
    await waitFor('synced', () => h.source.synced);
    assert.deepEqual(h.lines(), ['add Service default/web', 'synced']);
  });

  it('keeps everything while the API server is down, then applies only what changed', async (t) => {
    const h = await startSource(t, {
      seed: (api) => {
        for (const name of ['a', 'b', 'c']) {
          api.upsert('services', service('default', name));
          api.upsert('endpointslices', endpointSlice('default', `${name}-1`, name));
        }
      },
    });
    await waitFor('synced and watching', () => h.source.synced && h.api.openWatches === 3);
    const before = h.events.length;

    await h.api.down();
    h.api.upsert('services', service('default', 'b', { port: 8443 }));
    h.api.remove('services', 'default', 'c');
    h.api.remove('endpointslices', 'default', 'c-1');
    h.api.upsert('endpointslices', endpointSlice('default', 'd-1', 'd'));
    h.api.compact();
    await waitFor('several failed reconnects', () => h.log.withMessage('Watch failed').length >= 6);
    assert.equal(h.events.length, before, 'no event at all while the server is unreachable');
    assert.equal(h.source.synced, true, 'the caches stay synced');

    await h.api.up();
    await waitFor('re-listed', () => h.events.length === before + 4);
    assert.deepEqual(h.lines(before).sort(), [
      'add EndpointSlice default/d-1',
      'delete EndpointSlice default/c-1',
      'delete Service default/c',
      'update Service default/b',
    ]);
    assert.equal(h.events.filter((e) => e.type === 'synced').length, 1, 'synced is emitted once');
  });

  it('falls back to legacy Endpoints where EndpointSlices are not served', async (t) => {
    const h = await startSource(t, {
      fake: { endpointSlices: false },
      seed: (api) => {
        api.upsert('services', service('default', 'web'));
        api.upsert('endpoints', endpoints('default', 'web'));
      },
    });
    await waitFor('synced', () => h.source.synced);
    assert.equal(h.source.endpointSlicesServed, false);
    assert.deepEqual([...h.lines()].sort(), [
      'add EndpointSlice default/web (legacy)',
      'add Service default/web',
      'synced',
    ]);
    await waitFor('watching endpoints', () => h.api.openWatches === 3);
    h.api.remove('endpoints', 'default', 'web');
    await waitFor('deleted', () => h.events.length === 4);
    assert.equal(h.lines(3)[0], 'delete Endpoints default/web');
    assert.equal(h.api.requests.filter((r) => r.resource === 'endpointslices').length, 0);
  });

  it('does not fall back to Endpoints because discovery failed; it retries', async (t) => {
    const h = await startSource(t, {
      seed: (api) => {
        api.upsert('endpointslices', endpointSlice('default', 'web-1', 'web'));
        api.failRequests(500);
      },
    });
    await waitFor('discovery retried', () => h.log.withMessage('API discovery failed').length >= 2);
    h.api.failRequests(undefined);
    await waitFor('synced', () => h.source.synced);
    assert.equal(h.source.endpointSlicesServed, true);
    assert.deepEqual(h.lines(), ['add EndpointSlice default/web-1', 'synced']);
    assert.equal(h.api.requests.filter((r) => r.resource === 'endpoints').length, 0);
  });

  it('reports an invalid object, keeps its last good version, and records one Kubernetes Event', async (t) => {
    const h = await startSource(t, { seed: (api) => void api.upsert('services', service('default', 'web')) });
    await waitFor('synced and watching', () => h.source.synced && h.api.openWatches === 3);
    const web = h.api.upsert('services', service('default', 'web', { port: 70000 }));
    h.api.upsert('services', service('default', 'web', { port: 70000, labels: { touched: 'again' } }));
    await waitFor('two problems', () => h.events.filter((e) => e.type === 'problem').length === 2);
    const problem = 'problem Service default/web: spec.ports[0].port: must be 1-65535, got 70000';
    assert.deepEqual(h.lines(), ['add Service default/web', 'synced', problem, problem]);

    await waitFor('event recorded', () => h.api.objects('events').length === 1);
    const [event] = h.api.objects('events');
    assert.equal(event?.reason, 'FailedToProxy');
    assert.equal(event?.type, 'Warning');
    assert.equal(event?.reportingController, 'kproxy');
    assert.equal(event?.reportingInstance, 'kproxy-node-1');
    assert.equal(event?.note, 'Service default/web: spec.ports[0].port: must be 1-65535, got 70000');
    assert.deepEqual(event?.regarding, {
      apiVersion: 'v1',
      kind: 'Service',
      namespace: 'default',
      name: 'web',
      uid: web.metadata.uid,
      resourceVersion: web.metadata.resourceVersion,
    });
    assert.equal(event?.metadata.namespace, 'default');

    h.api.upsert('services', service('default', 'web', { port: 81 }));
    await waitFor('fixed', () => h.events.length === 5);
    assert.equal(h.lines(4)[0], 'update Service default/web', 'the fixed version replaces the last good one');
    assert.equal(h.api.objects('events').length, 1, 'the same problem is recorded once');
  });

  it('converts topology hints and trafficDistribution; a bad trafficDistribution is a problem, the service kept', async (t) => {
    const web = service('default', 'web');
    const spec = { ...(web['spec'] as Record<string, unknown>), trafficDistribution: 'PreferSameNode' };
    const slice = endpointSlice('default', 'web-abc', 'web', { addresses: ['198.18.1.1', '198.18.1.2'] });
    const hinted = (slice['endpoints'] as Record<string, unknown>[]).map((e, i) => ({
      ...e,
      hints: { forZones: [{ name: 'zone-a' }], forNodes: [{ name: `node-${i + 1}` }] },
    }));
    const h = await startSource(t, {
      seed: (api) => {
        api.upsert('services', { ...web, spec });
        api.upsert('endpointslices', { ...slice, endpoints: hinted });
      },
    });
    await waitFor('synced', () => h.source.synced);
    const objects = h.events.flatMap((e) => (e.type === 'add' ? [e.object] : []));
    const svc = objects.find((o) => o.kind === 'Service');
    const eps = objects.find((o) => o.kind === 'EndpointSlice');
    assert.equal(svc?.kind === 'Service' ? svc.spec.trafficDistribution : 'missing', 'PreferSameNode');
    assert.deepEqual(
      eps?.kind === 'EndpointSlice' ? eps.spec.endpoints.map((e) => [e.zoneHints, e.nodeHints]) : [],
      [
        [['zone-a'], ['node-1']],
        [['zone-a'], ['node-2']],
      ],
    );

    const from = h.events.length;
    h.api.upsert('services', { ...web, spec: { ...spec, trafficDistribution: 'Nearby' } });
    await waitFor('problem and update', () => h.events.length === from + 2);
    assert.deepEqual(h.lines(from), [
      'problem Service default/web: spec.trafficDistribution: must be PreferClose, PreferSameZone or PreferSameNode, got "Nearby"',
      'update Service default/web',
    ]);
  });

  it('records no Kubernetes Event when asked not to (one-shot commands)', async (t) => {
    const h = await startSource(t, {
      recordEvents: false,
      seed: (api) => void api.upsert('services', service('default', 'web', { port: 0 })),
    });
    await waitFor('synced', () => h.source.synced);
    await h.source.stop();
    assert.deepEqual(h.lines(), [
      'problem Service default/web: spec.ports[0].port: must be 1-65535, got 0',
      'synced',
    ]);
    assert.equal(h.api.requests.filter((r) => r.method === 'POST').length, 0);
  });

  it('deletes what it emitted when an object becomes one kproxy does not proxy', async (t) => {
    const h = await startSource(t, { seed: (api) => void api.upsert('services', service('default', 'web')) });
    await waitFor('synced and watching', () => h.source.synced && h.api.openWatches === 3);
    h.api.upsert('services', service('default', 'web', { type: 'ExternalName', clusterIP: '' }));
    await waitFor('deleted', () => h.events.length === 3);
    assert.deepEqual(h.lines(), ['add Service default/web', 'synced', 'delete Service default/web']);
  });

  it('delivers this node’s Node before synced, then its label and address changes, not its heartbeats', async (t) => {
    const zoned = (zone: string, ips: readonly string[]) => {
      const base = node('node-1', ips);
      return {
        ...base,
        metadata: { ...base.metadata, labels: { 'topology.kubernetes.io/zone': zone } },
        spec: { podCIDRs: ['198.19.1.0/24'] },
      };
    };
    const h = await startSource(t, {
      seed: (api) => {
        api.upsert('nodes', zoned('zone-a', ['198.18.0.5']));
        api.upsert('nodes', node('node-2', ['198.18.0.6']));
      },
    });
    await waitFor('synced', () => h.source.synced);
    const summary = () =>
      h.nodeEvents.map((e) =>
        e.type === 'node'
          ? `${e.node.name} ${e.node.zone} ${e.node.addresses.join(',')}`
          : `deleted ${e.name}`,
      );
    assert.deepEqual(summary(), ['node-1 zone-a 198.18.0.5'], 'the Node is known before synced');
    assert.deepEqual(h.nodeEvents[0]?.type === 'node' ? h.nodeEvents[0].node.podCIDRs : [], [
      '198.19.1.0/24',
    ]);
    assert.deepEqual(h.source.nodeAddresses, ['198.18.0.5']);
    await waitFor('watching', () => h.api.openWatches === 3);
    h.api.upsert('nodes', node('node-2', ['198.18.0.7']));
    // A status heartbeat: nothing kproxy reads changes.
    const heartbeat: Record<string, unknown> = { ...zoned('zone-a', ['198.18.0.5']) };
    heartbeat['metadata'] = { ...zoned('zone-a', []).metadata, annotations: { beat: '1' } };
    heartbeat['status'] = { ...(heartbeat['status'] as object), conditions: [{ type: 'Ready' }] };
    h.api.upsert('nodes', heartbeat as unknown as ReturnType<typeof node>);
    h.api.upsert('nodes', zoned('zone-b', ['198.18.0.5']));
    h.api.upsert('nodes', zoned('zone-b', ['198.18.0.5', '2001:2::5']));
    await waitFor('node changed', () => h.nodeEvents.length === 3);
    assert.deepEqual(summary(), [
      'node-1 zone-a 198.18.0.5',
      'node-1 zone-b 198.18.0.5',
      'node-1 zone-b 198.18.0.5,2001:2::5',
    ]);
    h.api.upsert('nodes', zoned('not a zone!', ['198.18.0.5']));
    await waitFor('problem', () => h.events.some((e) => e.type === 'problem'));
    assert.deepEqual(
      h.lines().filter((l) => l.startsWith('problem')),
      [
        'problem Node node-1: metadata.labels["topology.kubernetes.io/zone"]: not a label value: "not a zone!"',
      ],
    );
    h.api.remove('nodes', undefined, 'node-1');
    await waitFor('deleted', () => h.nodeEvents.length === 4);
    assert.deepEqual(summary().at(-1), 'deleted node-1');
    assert.equal(h.nodeEvents.length, 4, 'a bad version is not delivered');
  });

  it('delivers nothing after stop resolves', async (t) => {
    const h = await startSource(t, { seed: (api) => void api.upsert('services', service('default', 'web')) });
    await waitFor('synced and watching', () => h.source.synced && h.api.openWatches === 3);
    await h.source.stop();
    const count = h.events.length;
    h.api.upsert('services', service('default', 'web2'));
    await waitFor('watches closed', () => h.api.openWatches === 0);
    assert.equal(h.events.length, count);
  });
});
