// The attempt tracker and the report's figures: outages from the last success before a failure to the
// first success after it, the longest interruption, the time to recover after a fault.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AttemptTracker, failureReason, figures, MAX_KEPT_FAILURES } from './outages.ts';

describe('AttemptTracker', () => {
  it('counts tries, failures by reason, and each outage between successes', () => {
    const t = new AttemptTracker();
    t.success(1000, 'pod0');
    t.failure(1010, 'ECONNREFUSED');
    t.failure(1020, 'TIMEOUT');
    t.success(1500, 'pod1');
    t.success(1501, 'pod0');
    const s = t.summary();
    assert.equal(s.tried, 5);
    assert.equal(s.failed, 2);
    assert.deepEqual(s.reasons, { ECONNREFUSED: 1, TIMEOUT: 1 });
    assert.deepEqual(s.outages, [{ from: 1000, to: 1500, failed: 2 }]);
    assert.equal(s.longestGapMs, 500);
    assert.deepEqual(s.backends, { pod0: { count: 2, lastAt: 1501 }, pod1: { count: 1, lastAt: 1500 } });
  });

  it('leaves an outage open when the traffic ends failing', () => {
    const t = new AttemptTracker();
    t.success(100);
    t.failure(200, 'EHOSTUNREACH');
    assert.deepEqual(t.summary().outages, [{ from: 100, to: undefined, failed: 1 }]);
  });

  it('starts an outage at the first attempt when nothing succeeded before', () => {
    const t = new AttemptTracker();
    t.failure(50, 'TIMEOUT');
    t.failure(60, 'TIMEOUT');
    t.success(90);
    assert.deepEqual(t.summary().outages, [{ from: 50, to: 90, failed: 2 }]);
  });

  it('keeps a bounded number of failure records but counts them all', () => {
    const t = new AttemptTracker();
    for (let i = 0; i < MAX_KEPT_FAILURES + 10; i++) t.failure(i, 'TIMEOUT');
    const s = t.summary();
    assert.equal(s.failures.length, MAX_KEPT_FAILURES);
    assert.equal(s.failed, MAX_KEPT_FAILURES + 10);
    assert.equal(s.reasons['TIMEOUT'], MAX_KEPT_FAILURES + 10);
  });
});

describe('figures', () => {
  it('is all zeros when nothing failed', () => {
    const t = new AttemptTracker();
    t.success(1);
    t.success(2);
    assert.deepEqual(figures(t.summary(), 2), {
      tried: 2,
      failed: 0,
      failedBeforeFault: 0,
      longestInterruptionMs: 0,
      recoverMs: 0,
      failedAfterBack: 0,
      outagesAfterFault: 0,
      reasons: {},
    });
  });

  it('measures recovery from the fault to the end of the last outage after it', () => {
    const t = new AttemptTracker();
    t.success(900);
    t.failure(950, 'TIMEOUT'); // before the fault at 1000
    t.success(960);
    t.failure(1100, 'EHOSTUNREACH');
    t.success(2000);
    t.success(2900);
    t.failure(3000, 'TIMEOUT'); // a late failure after the rules came back
    t.success(3200);
    const f = figures(t.summary(), 1000);
    assert.equal(f.failed, 3);
    assert.equal(f.tried, 8);
    assert.equal(f.failedBeforeFault, 1);
    assert.equal(f.longestInterruptionMs, 2000 - 960);
    assert.equal(f.recoverMs, 3200 - 1000);
    assert.equal(f.outagesAfterFault, 2);
    assert.equal(f.failedAfterBack, 1, 'the late failure at 3000');
  });

  it('says "not recovered" (null) while the last outage is open', () => {
    const t = new AttemptTracker();
    t.success(900);
    t.failure(1100, 'ECONNREFUSED');
    t.failure(1900, 'ECONNREFUSED');
    const f = figures(t.summary(), 1000);
    assert.equal(f.recoverMs, null);
    assert.equal(f.longestInterruptionMs, 1900 - 900);
  });
});

describe('failureReason', () => {
  it('prefers an errno code, then the message', () => {
    assert.equal(
      failureReason(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
      'ECONNREFUSED',
    );
    assert.equal(failureReason(new Error('boom')), 'boom');
    assert.equal(failureReason('x'), 'x');
  });
});
