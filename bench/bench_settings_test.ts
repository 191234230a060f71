import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { benchSettings } from './bench_settings.ts';

describe('benchSettings', () => {
  it('quick: repeats 3 times, only the small sizes, short bounded runs', () => {
    const s = benchSettings(true);
    assert.equal(s.dataPath.repetitions, 3);
    assert.deepEqual(s.scaleSizes, [100, 1000]);
    assert.ok(s.dataPath.wrkSeconds <= 2 && s.dataPath.iperfSeconds <= 2);
    assert.ok(s.guestTimeoutMs <= 6 * 60_000);
  });

  it('full: repeats 5 times, 100 to 10k services, plan and sync at 1k/5k/10k × 10 endpoints', () => {
    const s = benchSettings(false);
    assert.equal(s.dataPath.repetitions, 5);
    assert.deepEqual(s.scaleSizes, [100, 1000, 5000, 10_000]);
    assert.deepEqual(s.planSizes, [1000, 5000, 10_000]);
    assert.equal(s.endpointsPerService, 10);
    assert.deepEqual(s.guest.scale?.modes, ['ipvs', 'iptables']);
    assert.ok(s.guest.dataPath?.targets.includes('ipvs'));
  });

  it('measures every target against a direct connection in the same place', () => {
    for (const quick of [true, false]) {
      const s = benchSettings(quick);
      assert.equal(s.dataPath.targets[0], 'direct');
      assert.equal(s.guest.dataPath?.targets[0], 'direct');
    }
  });
});
