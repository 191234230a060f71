import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { benchSettings, parseListOption, selectScaleRuns } from './bench_settings.ts';

describe('benchSettings', () => {
  it('quick: repeats 3 times, only the small sizes, short bounded runs', () => {
    const s = benchSettings(true);
    assert.equal(s.dataPath.repetitions, 3);
    assert.deepEqual(
      s.scale.map((r) => [r.mode, r.sizes]),
      [
        ['iptables', [100, 1000]],
        ['nftables', [100, 1000]],
      ],
    );
    assert.ok(s.dataPath.wrkSeconds <= 2 && s.dataPath.iperfSeconds <= 2);
    assert.equal(s.guest.length, 1, 'one guest boot');
    assert.ok(s.guest[0]!.timeoutMs <= 6 * 60_000);
  });

  it('full: repeats 5 times, 100 to 10k services for iptables and nftables, plan at 1k/5k/10k × 10 endpoints', () => {
    const s = benchSettings(false);
    assert.equal(s.dataPath.repetitions, 5);
    for (const run of s.scale) assert.deepEqual(run.sizes, [100, 1000, 5000, 10_000], run.mode);
    assert.deepEqual(
      s.scale.map((r) => r.mode),
      ['iptables', 'nftables'],
    );
    assert.deepEqual(s.planSizes, [1000, 5000, 10_000]);
    assert.equal(s.endpointsPerService, 10);
    assert.deepEqual(
      s.guest.map((g) => g.config.scale?.modes ?? []),
      [[], ['ipvs'], ['iptables']],
      'one boot per part: a timeout loses only its own part',
    );
    assert.ok(s.guest[0]!.config.dataPath?.targets.includes('ipvs'));
  });

  it('measures every target against a direct connection in the same place', () => {
    for (const quick of [true, false]) {
      const s = benchSettings(quick);
      assert.equal(s.dataPath.targets[0], 'direct');
      assert.equal(s.guest[0]!.config.dataPath?.targets[0], 'direct');
    }
  });

  it('measures the nftables mode beside the iptables mode on the host, with 100 services in the data path', () => {
    for (const quick of [true, false]) {
      const s = benchSettings(quick);
      assert.ok(s.dataPath.targets.includes('iptables') && s.dataPath.targets.includes('nftables'));
      assert.equal(s.dataPath.services, 100);
      assert.equal(s.guest[0]!.config.dataPath?.services, 100);
    }
  });
});

describe('selectScaleRuns', () => {
  const runs = benchSettings(false).scale;

  it('keeps every run and its sizes without --modes and --sizes', () => {
    assert.deepEqual(selectScaleRuns(runs, undefined, undefined), runs);
  });

  it('keeps the modes asked for, each with the sizes asked for', () => {
    assert.deepEqual(selectScaleRuns(runs, new Set(['nftables']), [100, 1000]), [
      { mode: 'nftables', sizes: [100, 1000] },
    ]);
    assert.deepEqual(
      selectScaleRuns(runs, undefined, [10_000]).map((r) => [r.mode, r.sizes]),
      [
        ['iptables', [10_000]],
        ['nftables', [10_000]],
      ],
    );
  });
});

describe('parseListOption', () => {
  it('reads modes, once each', () => {
    assert.deepEqual(parseListOption('--modes', 'iptables,nftables,iptables'), ['iptables', 'nftables']);
  });

  it('reads sizes as whole numbers, ascending, once each', () => {
    assert.deepEqual(parseListOption('--sizes', '10000,100, 1_000,100'), [100, 1000, 10_000]);
  });

  it('rejects an unknown mode, a size that is not a service count, and an empty list', () => {
    assert.throws(
      () => parseListOption('--modes', 'nft'),
      /Invalid --modes: "nft" \(any of iptables, nftables, ipvs, userspace\)/,
    );
    assert.throws(() => parseListOption('--sizes', '100,1.5'), /Invalid --sizes: "1.5"/);
    assert.throws(() => parseListOption('--sizes', '0'), /Invalid --sizes: "0"/);
    assert.throws(() => parseListOption('--sizes', ','), /Invalid --sizes: an empty list/);
  });
});
