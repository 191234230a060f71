import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HealthState } from './health_state.ts';

const TIMEOUT = 60_000; // 2 × a 30 s sync period

function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

describe('HealthState', () => {
  it('is healthy at start, before any sync, while nothing is queued', () => {
    const clock = fakeClock();
    const health = new HealthState({ healthTimeoutMs: TIMEOUT, now: clock.now });
    clock.advance(10 * TIMEOUT);
    assert.deepEqual(health.health(), {
      healthy: true,
      lastUpdated: undefined,
      currentTime: clock.now(),
      oldestPendingQueued: undefined,
    });
  });

  it('turns unhealthy when a queued change has waited the health timeout without a successful sync', () => {
    const clock = fakeClock();
    const health = new HealthState({ healthTimeoutMs: TIMEOUT, now: clock.now });
    health.queuedUpdate();
    const queuedAt = clock.now();
    clock.advance(TIMEOUT - 1);
    assert.equal(health.health().healthy, true, 'late by less than the timeout');
    clock.advance(1);
    assert.equal(health.health().healthy, false, 'exactly the timeout is late, as upstream');
    assert.equal(health.health().oldestPendingQueued, queuedAt);
  });

  it('keeps the oldest pending change: a stream of new changes does not hide a stuck proxy', () => {
    const clock = fakeClock();
    const health = new HealthState({ healthTimeoutMs: TIMEOUT, now: clock.now });
    health.queuedUpdate();
    for (let i = 0; i < 10; i++) {
      clock.advance(TIMEOUT / 10);
      health.queuedUpdate();
    }
    assert.equal(health.health().healthy, false);
  });

  it('stays unhealthy through failed syncs and recovers on the first successful one', () => {
    const clock = fakeClock();
    const health = new HealthState({ healthTimeoutMs: TIMEOUT, now: clock.now });
    health.queuedUpdate();
    for (let i = 0; i < 4; i++) {
      clock.advance(TIMEOUT / 2);
      health.syncStarted();
      health.syncFailed();
    }
    assert.equal(health.health().healthy, false);
    health.syncStarted();
    clock.advance(5);
    health.updated();
    const after = health.health();
    assert.equal(after.healthy, true);
    assert.equal(after.lastUpdated, clock.now());
    assert.equal(after.oldestPendingQueued, undefined);
  });

  it('keeps changes queued during a sync pending after it succeeds (they were not in its snapshot)', () => {
    const clock = fakeClock();
    const health = new HealthState({ healthTimeoutMs: TIMEOUT, now: clock.now });
    health.queuedUpdate();
    health.syncStarted();
    clock.advance(100);
    health.queuedUpdate();
    const duringSync = clock.now();
    clock.advance(100);
    health.updated();
    assert.equal(health.health().oldestPendingQueued, duringSync);
    clock.advance(TIMEOUT - 200);
    assert.equal(health.health().healthy, true);
    clock.advance(100);
    assert.equal(health.health().healthy, false, 'the change queued during the sync was never synced');
  });

  it('without syncStarted, a successful sync clears everything (upstream behaviour)', () => {
    const clock = fakeClock();
    const health = new HealthState({ healthTimeoutMs: TIMEOUT, now: clock.now });
    health.queuedUpdate();
    clock.advance(TIMEOUT * 2);
    health.updated();
    assert.equal(health.health().oldestPendingQueued, undefined);
    assert.equal(health.health().healthy, true);
  });

  it('reports node eligibility separately from proxy health', () => {
    const health = new HealthState({ healthTimeoutMs: TIMEOUT });
    assert.equal(health.nodeEligible, true);
    health.setNodeEligible(false);
    assert.equal(health.nodeEligible, false);
    assert.equal(health.health().healthy, true);
  });
});
