/**
 * The list-watch loop against a fake API server on 127.0.0.1 that speaks the real wire protocol, through
 * the official client's Watch class and typed list calls. Every test checks the exact sequence the
 * handler saw: adds/updates/deletes in order, re-lists reduced to their difference, nothing deleted
 * while the server is unreachable.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { CoreV1Api, Watch } from '@kubernetes/client-node';
import { systemClock } from './clock.ts';
import { loadKubeConfig } from './kube_config.ts';
import { serviceLister } from './list_functions.ts';
import { type ListFn, type RawObject, Reflector, type ReflectorOptions } from './reflector.ts';
import { FakeApiServer, type FakeApiServerOptions } from './testing/fake_apiserver.ts';
import { endpoints, service } from './testing/fixtures.ts';
import { captureLogs, type LogCapture } from './testing/log_capture.ts';
import { waitFor } from './testing/wait_for.ts';

const FAST_BACKOFF = { initialMs: 20, maxMs: 160, factor: 2, jitter: 0 };

interface Harness {
  readonly api: FakeApiServer;
  readonly reflector: Reflector;
  /** What the handler saw: `upsert ns/name rv`, `delete ns/name`, `synced`. */
  readonly seen: string[];
  readonly log: LogCapture;
  /** Stops the loop and resolves when it has returned. */
  stop(): Promise<void>;
}

function rvOf(object: RawObject): string {
  return String((object.metadata as { resourceVersion?: unknown } | undefined)?.resourceVersion);
}

/**
 * Starts a fake API server (seeded by `seed`) and a reflector on its Services.
 */
async function startHarness(
  t: TestContext,
  setup: {
    readonly fake?: FakeApiServerOptions;
    readonly seed?: (api: FakeApiServer) => void;
    readonly reflector?: Partial<ReflectorOptions>;
    readonly wrapList?: (list: ListFn, api: FakeApiServer) => ListFn;
  } = {},
): Promise<Harness> {
  const api = await FakeApiServer.start({ token: 'kpt-token', ...setup.fake });
  const dir = mkdtempSync(join(tmpdir(), 'kpt-reflector-'));
  const kc = loadKubeConfig({ kubeconfigPath: api.writeKubeconfig(dir) });
  setup.seed?.(api);
  const log = captureLogs();
  const seen: string[] = [];
  const list = serviceLister(kc.makeApiClient(CoreV1Api), {});
  const reflector = new Reflector({
    resource: 'services',
    path: '/api/v1/services',
    list: setup.wrapList ? setup.wrapList(list, api) : list,
    watch: new Watch(kc),
    clock: systemClock,
    logger: log.logger,
    backoff: FAST_BACKOFF,
    watchTimeoutSeconds: 30,
    requestDeadlineMs: 2000,
    healthyWatchMs: 1000,
    ...setup.reflector,
  });
  const stopping = new AbortController();
  const running = reflector.run(
    {
      onUpsert: (object, key) => seen.push(`upsert ${key} ${rvOf(object)}`),
      onDelete: (key) => seen.push(`delete ${key}`),
      onSynced: () => seen.push('synced'),
    },
    stopping.signal,
  );
  const stop = async (): Promise<void> => {
    stopping.abort();
    await running;
  };
  t.after(async () => {
    await stop();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { api, reflector, seen, log, stop };
}

describe('Reflector', () => {
  it('lists, reports synced once, then follows adds, updates and deletes in order', async (t) => {
    let a = service('default', 'a');
    const h = await startHarness(t, {
      seed: (api) => {
        a = api.upsert('services', a);
        api.upsert('services', service('default', 'b'));
      },
    });
    await waitFor('synced and watching', () => h.seen.includes('synced') && h.api.openWatches === 1);
    assert.deepEqual(h.seen, ['upsert default/a 101', 'upsert default/b 102', 'synced']);

    const c = h.api.upsert('services', service('kube-system', 'c'));
    const a2 = h.api.upsert('services', service('default', 'a', { port: 81 }));
    h.api.remove('services', 'default', 'b');
    await waitFor('three watch events', () => h.seen.length === 6);
    assert.deepEqual(h.seen.slice(3), [
      `upsert kube-system/c ${c.metadata.resourceVersion}`,
      `upsert default/a ${a2.metadata.resourceVersion}`,
      'delete default/b',
    ]);

    const watch = h.api.watchRequests('services')[0];
    assert.equal(watch?.query.resourceVersion, '102', 'the watch starts where the list ended');
    assert.equal(watch?.query.allowWatchBookmarks, 'true');
    assert.equal(watch?.query.timeoutSeconds, '30');
    assert.equal(h.api.listRequests('services').length, 1);
  });

  it('resumes a dropped watch from the last resourceVersion, without a re-list or a delete', async (t) => {
    const h = await startHarness(t, { seed: (api) => void api.upsert('services', service('default', 'a')) });
    await waitFor('watching', () => h.api.openWatches === 1);
    const b = h.api.upsert('services', service('default', 'b'));
    await waitFor('b seen', () => h.seen.length === 3);

    h.api.dropWatches();
    // Changes made while the client is reconnecting are replayed from the resourceVersion it had.
    const a2 = h.api.upsert('services', service('default', 'a', { port: 8081 }));
    h.api.remove('services', 'default', 'b');
    await waitFor('changes after the drop', () => h.seen.length === 5);

    assert.deepEqual(h.seen, [
      'upsert default/a 101',
      'synced',
      `upsert default/b ${b.metadata.resourceVersion}`,
      `upsert default/a ${a2.metadata.resourceVersion}`,
      'delete default/b',
    ]);
    assert.equal(h.api.listRequests('services').length, 1, 'no re-list');
    const watches = h.api.watchRequests('services');
    assert.equal(watches.at(-1)?.query.resourceVersion, b.metadata.resourceVersion);
  });

  it('moves its resourceVersion forward on bookmarks', async (t) => {
    const h = await startHarness(t, { seed: (api) => void api.upsert('services', service('default', 'a')) });
    await waitFor('watching', () => h.api.openWatches === 1);
    // Other resources move the global resourceVersion; a Services watch only learns it from a bookmark.
    h.api.upsert('endpoints', endpoints('default', 'a'));
    h.api.upsert('endpoints', endpoints('default', 'b'));
    h.api.bookmark();
    await waitFor('bookmark applied', () => h.reflector.resourceVersion === h.api.resourceVersion);

    h.api.dropWatches();
    await waitFor('re-watched', () => h.api.watchRequests('services').length === 2);
    assert.equal(h.api.watchRequests('services')[1]?.query.resourceVersion, h.api.resourceVersion);
    assert.deepEqual(h.seen, ['upsert default/a 101', 'synced'], 'a bookmark is not an object change');
  });

  for (const goneAs of ['event', 'status'] as const) {
    it(`re-lists after 410 Gone (sent as ${goneAs === 'event' ? 'an ERROR event' : 'an HTTP 410'}) and reports only the difference`, async (t) => {
      const h = await startHarness(t, {
        fake: { goneAs },
        seed: (api) => {
          for (const name of ['a', 'b', 'c']) api.upsert('services', service('default', name));
        },
      });
      await waitFor('watching', () => h.api.openWatches === 1);
      assert.deepEqual(h.seen, [
        'upsert default/a 101',
        'upsert default/b 102',
        'upsert default/c 103',
        'synced',
      ]);

      await h.api.down();
      const b2 = h.api.upsert('services', service('default', 'b', { port: 8443 }));
      h.api.remove('services', 'default', 'c');
      const d = h.api.upsert('services', service('default', 'd'));
      h.api.compact();
      await waitFor('retrying while down', () => h.log.withMessage('Watch failed').length >= 2);
      assert.equal(h.seen.length, 4, 'nothing is deleted or changed while the server is down');
      await h.api.up();

      await waitFor('re-listed', () => h.seen.length === 7);
      assert.deepEqual(h.seen.slice(4), [
        'delete default/c',
        `upsert default/b ${b2.metadata.resourceVersion}`,
        `upsert default/d ${d.metadata.resourceVersion}`,
      ]);
      assert.equal(h.api.listRequests('services').length, 2);
      assert.equal(h.log.withMessage('Watch expired (410 Gone); listing again').length, 1);
      await waitFor('watching again', () => h.api.openWatches === 1);
    });
  }

  it('re-lists when an open watch is expired by the server, with no events if nothing changed', async (t) => {
    const h = await startHarness(t, { seed: (api) => void api.upsert('services', service('default', 'a')) });
    await waitFor('watching', () => h.api.openWatches === 1);
    h.api.expireWatches();
    await waitFor(
      're-listed and watching',
      () => h.api.listRequests('services').length === 2 && h.api.openWatches === 1,
    );
    assert.deepEqual(h.seen, ['upsert default/a 101', 'synced']);

    const b = h.api.upsert('services', service('default', 'b'));
    await waitFor('b seen', () => h.seen.length === 3);
    assert.equal(h.seen[2], `upsert default/b ${b.metadata.resourceVersion}`);
  });

  it('pages through a large list with limit and continue', async (t) => {
    const h = await startHarness(t, {
      reflector: { pageSize: 2 },
      seed: (api) => {
        for (const name of ['a', 'b', 'c', 'd', 'e']) api.upsert('services', service('default', name));
      },
    });
    await waitFor('synced and watching', () => h.seen.includes('synced') && h.api.openWatches === 1);
    assert.deepEqual(h.seen, [
      'upsert default/a 101',
      'upsert default/b 102',
      'upsert default/c 103',
      'upsert default/d 104',
      'upsert default/e 105',
      'synced',
    ]);
    const lists = h.api.listRequests('services');
    assert.deepEqual(
      lists.map((r) => [r.query.limit, r.query.continue !== undefined]),
      [
        ['2', false],
        ['2', true],
        ['2', true],
      ],
    );
    assert.equal(h.api.watchRequests('services')[0]?.query.resourceVersion, '105');
  });

  it('falls back to one full list when the continue token has expired', async (t) => {
    let pages = 0;
    const h = await startHarness(t, {
      reflector: { pageSize: 2 },
      seed: (api) => {
        for (const name of ['a', 'b', 'c']) api.upsert('services', service('default', name));
      },
      wrapList: (list, api) => async (request) => {
        const page = await list(request);
        // Compaction between the first and the second page invalidates the continue token.
        if (++pages === 1) api.compact();
        return page;
      },
    });
    await waitFor('synced', () => h.seen.includes('synced'));
    assert.deepEqual(h.seen, [
      'upsert default/a 101',
      'upsert default/b 102',
      'upsert default/c 103',
      'synced',
    ]);
    assert.deepEqual(
      h.api.listRequests('services').map((r) => [r.query.limit, r.query.continue !== undefined]),
      [
        ['2', false],
        ['2', true],
        [undefined, false],
      ],
    );
  });

  it('retries a failing list with exponential backoff, and syncs once it succeeds', async (t) => {
    const h = await startHarness(t, {
      seed: (api) => {
        api.upsert('services', service('default', 'a'));
        api.failRequests(503);
      },
    });
    await waitFor('five failed lists', () => h.log.withMessage('List failed').length >= 5);
    const delays = h.log.withMessage('List failed').map((r) => r.retryInMs);
    assert.deepEqual(delays.slice(0, 5), [20, 40, 80, 160, 160]);
    const times = h.api.listRequests('services').map((r) => r.at);
    for (let i = 1; i < 5; i++) {
      const gap = (times[i] ?? 0) - (times[i - 1] ?? 0);
      assert.ok(
        gap >= Number(delays[i - 1]) - 2,
        `attempt ${i + 1} waited ${gap} ms, less than ${delays[i - 1]}`,
      );
    }
    assert.deepEqual(h.seen, [], 'not synced while the list fails');

    h.api.failRequests(undefined);
    await waitFor('synced', () => h.seen.includes('synced'), { timeoutMs: 1000 });
    assert.deepEqual(h.seen, ['upsert default/a 101', 'synced']);
  });

  it('backs off failing watches and resets the backoff after a healthy watch', async (t) => {
    const h = await startHarness(t, { seed: (api) => void api.upsert('services', service('default', 'a')) });
    await waitFor('watching', () => h.api.openWatches === 1);
    h.api.failRequests(500);
    h.api.dropWatches();
    await waitFor('four failed watches', () => h.log.withMessage('Watch failed').length >= 4);
    assert.deepEqual(
      h.log
        .withMessage('Watch failed')
        .slice(0, 4)
        .map((r) => r.retryInMs),
      [20, 40, 80, 160],
    );

    h.api.failRequests(undefined);
    await waitFor('watching again', () => h.api.openWatches === 1);
    h.api.upsert('services', service('default', 'b'));
    await waitFor('b seen', () => h.seen.length === 3);
    const failuresBefore = h.log.withMessage('Watch failed').length;
    h.api.failRequests(500);
    h.api.dropWatches();
    await waitFor('a new failure', () => h.log.withMessage('Watch failed').length > failuresBefore);
    assert.equal(h.log.withMessage('Watch failed')[failuresBefore]?.retryInMs, 20, 'the backoff starts over');
    assert.equal(h.api.listRequests('services').length, 1, 'a failing watch resumes, it does not re-list');
    assert.equal(h.seen.filter((s) => s.startsWith('delete')).length, 0);
  });

  it('abandons a stalled watch at its client-side deadline and reconnects', async (t) => {
    const h = await startHarness(t, {
      reflector: { watchTimeoutSeconds: 0, requestDeadlineMs: 150 },
      seed: (api) => {
        api.upsert('services', service('default', 'a'));
        api.stallWatches(true);
      },
    });
    await waitFor('two stalled watches', () => h.api.watchRequests('services').length >= 2);
    const failed = h.log.withMessage('Watch failed')[0];
    assert.match(String(failed?.error), /outlived its 150 ms deadline/);

    h.api.stallWatches(false);
    const b = h.api.upsert('services', service('default', 'b'));
    await waitFor('b seen after reconnecting', () =>
      h.seen.includes(`upsert default/b ${b.metadata.resourceVersion}`),
    );
    assert.deepEqual(h.seen.slice(0, 2), ['upsert default/a 101', 'synced']);
  });

  it('stops promptly, even while backing off, and calls the handler no more', async (t) => {
    const h = await startHarness(t, {
      reflector: { backoff: { initialMs: 5000, maxMs: 5000, factor: 2, jitter: 0 } },
      seed: (api) => void api.upsert('services', service('default', 'a')),
    });
    await waitFor('watching', () => h.api.openWatches === 1);
    h.api.failRequests(500);
    h.api.dropWatches();
    await waitFor('backing off', () => h.log.withMessage('Watch failed').length === 1);
    const started = Date.now();
    await h.stop();
    assert.ok(Date.now() - started < 500, 'stop does not wait for the 5 s backoff');
    h.api.failRequests(undefined);
    h.api.upsert('services', service('default', 'b'));
    assert.deepEqual(h.seen, ['upsert default/a 101', 'synced']);
  });
});
