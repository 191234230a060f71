import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REPORT_FIXTURE } from '../testing/report_fixture.ts';
import type { ScaleSeries } from './results.ts';
import { rateScaling, scaleModeLabel, syncFigure } from './scale_figures.ts';

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
        { services: 100, sequential: 1, underLoad: 1 },
        { services: 1000, sequential: 1, underLoad: 1 },
        { services: 10_000, sequential: 1, underLoad: 0.85 },
      ],
    });
    const scaling = rateScaling(iptables)!;
    assert.equal(scaling.points[1]!.sequential, 120 / 210, '120 µs at 100, 210 µs at 1k');
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
      scaling.points.map((p) => [p.services, p.underLoad]),
      [
        [100, undefined],
        [1000, undefined],
        [10_000, undefined],
      ],
    );
  });

  it('has nothing to say about a series without points', () => {
    assert.equal(rateScaling({ ...nftables, points: [] }), undefined);
  });
});
