import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventsV1Event } from '@kubernetes/client-node';
import type { ObjectProblem } from '../../model/problem.ts';
import type { SourceClock } from './clock.ts';
import { FAILED_TO_PROXY, ProblemEventRecorder, type RegardingObject } from './problem_event_recorder.ts';
import { captureLogs } from './testing/log_capture.ts';

class ManualClock implements SourceClock {
  current = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
  now(): number {
    return this.current;
  }
  async sleep(): Promise<void> {}
}

function setup(limits: { burst?: number; refillMs?: number; dedupeMs?: number } = {}) {
  const clock = new ManualClock();
  const posted: { namespace: string; body: EventsV1Event }[] = [];
  let fail = false;
  const log = captureLogs();
  const recorder = new ProblemEventRecorder({
    events: {
      createNamespacedEvent: async (param) => {
        if (fail)
          throw Object.assign(new Error('Forbidden'), {
            code: 403,
            body: { message: 'events is forbidden' },
          });
        posted.push(param);
        return param.body;
      },
    },
    nodeName: 'node-1',
    clock,
    logger: log.logger,
    ...limits,
  });
  return {
    clock,
    posted,
    recorder,
    log,
    failNext: (): void => {
      fail = true;
    },
  };
}

const web: RegardingObject = {
  apiVersion: 'v1',
  kind: 'Service',
  namespace: 'shop',
  name: 'web',
  uid: 'uid-1',
  resourceVersion: '7',
};

const problem = (reason: string): ObjectProblem => ({
  code: 'KPROXY_FIELD',
  file: undefined,
  kind: 'Service',
  namespace: 'shop',
  name: 'web',
  field: 'spec.ports[0].port',
  reason,
});

describe('ProblemEventRecorder', () => {
  it('sends one Warning event about the object, with every problem in the note', async () => {
    const { posted, recorder } = setup();
    recorder.record(web, [problem('must be 1-65535, got 0'), problem('duplicate')]);
    await recorder.flush();
    assert.equal(posted.length, 1);
    const { namespace, body } = posted[0] ?? assert.fail('no event');
    assert.equal(namespace, 'shop');
    assert.equal(body.reason, FAILED_TO_PROXY);
    assert.equal(body.type, 'Warning');
    assert.equal(body.action, 'Proxy');
    assert.equal(body.reportingController, 'kproxy');
    assert.equal(body.reportingInstance, 'kproxy-node-1');
    assert.deepEqual(body.regarding, {
      apiVersion: 'v1',
      kind: 'Service',
      namespace: 'shop',
      name: 'web',
      uid: 'uid-1',
      resourceVersion: '7',
    });
    assert.equal(
      body.note,
      'Service shop/web: spec.ports[0].port: must be 1-65535, got 0; Service shop/web: spec.ports[0].port: duplicate',
    );
    assert.match(body.metadata?.name ?? '', /^web\.[0-9a-f]+$/);
    // The API server wants eventTime with microseconds (RFC3339Micro).
    assert.equal(JSON.parse(JSON.stringify(body)).eventTime, '2025-01-02T03:04:05.678000Z');
  });

  it('sends the same note about the same object once per dedupe window', async () => {
    const { clock, posted, recorder } = setup({ dedupeMs: 60_000 });
    recorder.record(web, [problem('bad')]);
    clock.current += 59_000;
    recorder.record(web, [problem('bad')]);
    recorder.record(web, [problem('worse')]);
    clock.current += 2_000;
    recorder.record(web, [problem('bad')]);
    await recorder.flush();
    assert.deepEqual(
      posted.map((p) => p.body.note),
      [
        'Service shop/web: spec.ports[0].port: bad',
        'Service shop/web: spec.ports[0].port: worse',
        'Service shop/web: spec.ports[0].port: bad',
      ],
    );
    assert.equal(recorder.dropped, 1);
  });

  it('caps the rate with a token bucket: a burst, then one per refill period', async () => {
    const { clock, posted, recorder } = setup({ burst: 3, refillMs: 10_000 });
    for (let i = 0; i < 5; i++) recorder.record({ ...web, name: `svc-${i}` }, [problem('bad')]);
    assert.equal(recorder.sent, 3);
    clock.current += 10_000;
    for (let i = 5; i < 8; i++) recorder.record({ ...web, name: `svc-${i}` }, [problem('bad')]);
    await recorder.flush();
    assert.deepEqual(
      posted.map((p) => p.body.regarding?.name),
      ['svc-0', 'svc-1', 'svc-2', 'svc-5'],
    );
    assert.equal(recorder.dropped, 4);
  });

  it('logs a failed post and never throws', async () => {
    const { recorder, log, failNext } = setup();
    failNext();
    recorder.record(web, [problem('bad')]);
    await recorder.flush();
    const [warning] = log.withMessage('Could not record event');
    assert.equal(warning?.error, 'HTTP 403: events is forbidden');
    assert.equal(warning?.object, 'Service shop/web');
  });

  it('truncates a long note to the 1 kB the API server accepts', async () => {
    const { posted, recorder } = setup();
    recorder.record(web, [problem('x'.repeat(2000))]);
    await recorder.flush();
    assert.equal(posted[0]?.body.note?.length, 1024);
  });
});
