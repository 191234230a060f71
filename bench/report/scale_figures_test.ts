import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REPORT_FIXTURE } from '../testing/report_fixture.ts';
import type { ScaleSeries } from './results.ts';
import { rateScaling, scaleModeLabel, syncFigure } from './scale_figures.ts';
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
        { services: 100, sequential: 1, underLoad: 1, rawSequential: 1, rawUnderLoad: 1 },
        { services: 1000, sequential: 1, underLoad: 1, rawSequential: 1, rawUnderLoad: 1 },
        { services: 10_000, sequential: 1, underLoad: 0.85, rawSequential: 1, rawUnderLoad: 0.85 },
      ],
    });
    const scaling = rateScaling(iptables)!;
    assert.equal(scaling.points[1]!.sequential, 120 / 210, '120 µs at 100, 210 µs at 1k');
  });

  it('takes each size against the direct connection measured before it, so that drift does not count', () => {
    const [small, , large] = nftables.points;
    // The whole machine got twice as fast for the 10k run: direct and VIP alike.
    const faster = {
      ...large!,
      connectUs: summarize([50]),
      baselineConnectUs: summarize([45]),
      connectionsPerSecond: summarize([17_000]),
      baselineConnectionsPerSecond: summarize([22_000]),
    };
    const scaling = rateScaling({ ...nftables, points: [small!, faster] })!;
    const at10k = scaling.points[1]!;
    assert.ok(Math.abs(at10k.sequential - 1) < 1e-9, 'as fast as at 100, against direct');
    assert.ok(Math.abs(at10k.rawSequential - 2) < 1e-9, 'twice as fast, raw');
    assert.ok(Math.abs(at10k.underLoad! - 0.85) < 1e-9);
    assert.ok(Math.abs(at10k.rawUnderLoad! - 1.7) < 1e-9);
  });

  it('finds the smallest size whatever the order, and has no under-load ratio without wrk runs', () => {
    const noWrk: ScaleSeries = {
      ...nftables,
      points: [...nftables.points]
        .reverse()
        .map((p) => ({ ...p, connectionsPerSecond: undefined, baselineConnectionsPerSecond: undefined })),
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
