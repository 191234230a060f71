import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REPORT_FIXTURE } from '../testing/report_fixture.ts';
import type { ScaleSeries } from './results.ts';
import { addedByRulesUs, directFigures, rateScaling, scaleModeLabel, syncFigure } from './scale_figures.ts';
import { summarize } from './stats.ts';

const [iptables, nftables] = REPORT_FIXTURE.scale as [ScaleSeries, ScaleSeries];

describe('scaleModeLabel', () => {
  it('names the mode and what programs its packet path', () => {
    assert.equal(scaleModeLabel({ mode: 'iptables', iptablesBackend: 'nft' }), 'iptables (nft)');
    assert.equal(scaleModeLabel({ mode: 'nftables', iptablesBackend: 'legacy' }), 'nftables');
    assert.equal(scaleModeLabel({ mode: 'ipvs', iptablesBackend: 'legacy' }), 'ipvs (IPVS)');
  });
});

describe('syncFigure', () => {
  it("takes the daemon's metric when it isolated the sync", () => {
    const p = nftables.points.at(-1)!;
    assert.deepEqual(syncFigure(p, 'first'), { ms: 800, source: 'metric' });
    assert.deepEqual(syncFigure(p, 'change'), { ms: 12.5, source: 'metric' });
  });

  it('falls back to the log line, for each sync on its own', () => {
    const p = iptables.points[1]!;
    assert.deepEqual(syncFigure(p, 'first'), { ms: 500, source: 'log' });
    const half = { ...p, metricChangeSyncMs: 19.2 };
    assert.deepEqual(syncFigure(half, 'change'), { ms: 19.2, source: 'metric' });
    assert.deepEqual(syncFigure(half, 'first'), { ms: 500, source: 'log' });
  });
});

describe('rateScaling', () => {
  it('compares every size with the smallest: connect times inverted, wrk rates as they are', () => {
    assert.deepEqual(rateScaling(nftables), {
      baseServices: 100,
      points: [
        ...[100, 1000].map((services) => ({
          services,
          sequential: 1,
          underLoad: 1,
          rawSequential: 1,
          rawUnderLoad: 1,
          directSlowdown: 1,
          directRateSlowdown: 1,
          sameWindow: true,
        })),
        {
          services: 10_000,
          sequential: 1,
          underLoad: 0.85,
          rawSequential: 1,
          rawUnderLoad: 0.85,
          directSlowdown: 1,
          directRateSlowdown: 1,
          sameWindow: true,
        },
      ],
    });
    const scaling = rateScaling(iptables)!;
    assert.equal(scaling.points[1]!.sequential, 120 / 210, '120 µs at 100, 210 µs at 1k');
  });

  it('takes each size against the direct connects of its own window, so that drift does not count', () => {
    const [small, , large] = nftables.points;
    // The whole machine got twice as fast for the 10k run: direct and VIP alike (and nothing to do with the
    // direct connects before kproxy, which drifted the other way).
    const faster = {
      ...large!,
      connectUs: summarize([50]),
      directConnectUs: summarize([45]),
      baselineConnectUs: summarize([200]),
      connectionsPerSecond: summarize([17_000]),
      directConnectionsPerSecond: summarize([22_000]),
      baselineConnectionsPerSecond: summarize([5_000]),
    };
    const scaling = rateScaling({ ...nftables, points: [small!, faster] })!;
    const at10k = scaling.points[1]!;
    assert.ok(Math.abs(at10k.sequential - 1) < 1e-9, 'as fast as at 100, against direct');
    assert.ok(Math.abs(at10k.rawSequential - 2) < 1e-9, 'twice as fast, raw');
    assert.ok(Math.abs(at10k.underLoad! - 0.85) < 1e-9);
    assert.ok(Math.abs(at10k.rawUnderLoad! - 1.7) < 1e-9);
    assert.ok(Math.abs(at10k.directSlowdown - 0.5) < 1e-9);
    assert.ok(Math.abs(at10k.directRateSlowdown! - 0.5) < 1e-9, '11,000 conn/s direct at 100, 22,000 here');
    assert.equal(at10k.sameWindow, true);
  });

  it('falls back to the direct connects before kproxy for older results, and says so', () => {
    const scaling = rateScaling(iptables)!;
    assert.equal(scaling.points[1]!.sequential, 120 / 210, 'against 100 µs before kproxy at both sizes');
    assert.equal(scaling.points[1]!.underLoad, 1);
    assert.deepEqual(
      scaling.points.map((p) => p.sameWindow),
      [false, false],
    );
    // One size rerun with interleaved directs beside older ones: not the same window for the pair.
    const mixed = { ...iptables, points: [iptables.points[0]!, { ...nftables.points[1]! }] };
    assert.equal(rateScaling(mixed)!.points[1]!.sameWindow, false);
  });

  it('finds the smallest size whatever the order, and has no under-load ratio without wrk runs', () => {
    const noWrk: ScaleSeries = {
      ...nftables,
      points: [...nftables.points].reverse().map((p) => ({
        ...p,
        connectionsPerSecond: undefined,
        baselineConnectionsPerSecond: undefined,
        directConnectionsPerSecond: undefined,
      })),
    };
    const scaling = rateScaling(noWrk)!;
    assert.equal(scaling.baseServices, 100);
    assert.deepEqual(
      scaling.points.map((p) => [p.services, p.underLoad, p.rawUnderLoad]),
      [
        [100, undefined, undefined],
        [1000, undefined, undefined],
        [10_000, undefined, undefined],
      ],
    );
  });

  it('has nothing to say about a series without points', () => {
    assert.equal(rateScaling({ ...nftables, points: [] }), undefined);
  });
});

describe('directFigures', () => {
  it('takes the direct connects of the same window when the point has them', () => {
    const p = nftables.points[0]!;
    assert.equal(directFigures(p).when, 'same window');
    assert.equal(directFigures(p).connectUs, p.directConnectUs);
    assert.equal(directFigures(p).connectionsPerSecond, p.directConnectionsPerSecond);
  });

  it('falls back to those before kproxy for an older point', () => {
    const p = iptables.points[0]!;
    assert.deepEqual(directFigures(p), {
      connectUs: p.baselineConnectUs,
      connectionsPerSecond: p.baselineConnectionsPerSecond,
      when: 'before kproxy',
    });
  });
});

describe('addedByRulesUs', () => {
  it('is the VIP median less the direct median it is compared with', () => {
    assert.equal(addedByRulesUs(nftables.points[0]!), 100 - 90);
    assert.equal(addedByRulesUs(iptables.points[1]!), 210 - 100, 'older: against before kproxy');
  });
});
