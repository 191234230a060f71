import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REPORT_FIXTURE } from '../testing/report_fixture.ts';
import { mergeResults } from './merge_results.ts';
import type { BenchResults, ScaleSeries } from './results.ts';
import { summarize } from './stats.ts';

const guestRun: BenchResults = {
  ...REPORT_FIXTURE,
  date: '2026-11-25T10:00:00.000Z',
  durationMs: 1000,
  machine: { ...REPORT_FIXTURE.machine, loadAverage: 0.5 },
  dataPath: [
    { ...REPORT_FIXTURE.dataPath[0]!, place: 'guest' },
    { target: 'ipvs', place: 'guest', status: 'not measured', reason: 'guest timed out' },
  ],
  scale: [{ mode: 'ipvs', place: 'guest', iptablesBackend: 'legacy', points: [], failures: [] }],
  plan: [],
  guest: { kernel: '6.1.0-56-amd64', cpus: 1, durationMs: 900 },
  notMeasured: [
    { what: 'first packet and syncs, iptables (host)', reason: 'section skipped', section: 'scale' },
    { what: 'guest: iptables scale', reason: 'timed out', section: 'guest' },
  ],
};

describe('mergeResults', () => {
  const merged = mergeResults(REPORT_FIXTURE, guestRun, new Set(['guest']));

  it("takes the guest's figures from the later run and keeps the host's from the earlier one", () => {
    assert.deepEqual(
      merged.dataPath.map((r) => `${r.place} ${r.target} ${r.status}`),
      [
        'host direct measured',
        'host haproxy measured',
        'host userspace not measured',
        'host iptables measured',
        'host nftables measured',
        'guest direct measured',
        'guest ipvs not measured',
      ],
    );
    assert.deepEqual(
      merged.scale.map((s) => `${s.place} ${s.mode}`),
      ['host iptables', 'host nftables', 'guest ipvs'],
    );
    assert.equal(merged.plan, REPORT_FIXTURE.plan, 'plan did not run later: kept');
    assert.deepEqual(merged.guest, guestRun.guest);
  });

  it('replaces what was not measured in the merged sections only', () => {
    assert.deepEqual(
      merged.notMeasured.map((n) => n.what),
      ['guest: iptables scale'],
      "the earlier run's guest entry goes; the later run's scale entry is not about a merged section",
    );
  });

  it('keeps the first run as the date of record and says what was merged, when, under which load', () => {
    assert.equal(merged.date, REPORT_FIXTURE.date);
    assert.equal(merged.durationMs, REPORT_FIXTURE.durationMs + 1000);
    assert.deepEqual(merged.merged, [{ date: '2026-11-25T10:00:00.000Z', sections: ['guest'], load: 0.5 }]);
  });
});

describe('mergeResults of a run limited by --modes and --sizes', () => {
  const [, nftables] = REPORT_FIXTURE.scale as [ScaleSeries, ScaleSeries];
  const redone = { ...nftables.points[1]!, connectUs: summarize([77]) };
  const rerun: BenchResults = {
    ...REPORT_FIXTURE,
    date: '2026-11-26T09:00:00.000Z',
    durationMs: 500,
    machine: { ...REPORT_FIXTURE.machine, loadAverage: 0.2 },
    scale: [{ ...nftables, points: [redone], failures: [{ services: 5000, reason: 'timed out' }] }],
    plan: [],
    notMeasured: [],
  };
  const merged = mergeResults(REPORT_FIXTURE, rerun, new Set(['scale']), {
    modes: ['nftables'],
    sizes: [1000, 5000],
  });

  it('replaces the rows of the same mode, place and size, and keeps every other row', () => {
    const [iptablesAfter, nftablesAfter] = merged.scale;
    assert.equal(iptablesAfter, REPORT_FIXTURE.scale[0], 'another mode: kept as it was');
    assert.deepEqual(
      nftablesAfter!.points.map((p) => [p.services, p.connectUs.median]),
      [
        [100, 100],
        [1000, 77],
        [10_000, 100],
      ],
    );
    assert.deepEqual(nftablesAfter!.failures, [{ services: 5000, reason: 'timed out' }]);
  });

  it('lets a later point replace an earlier failure of its size, and adds a series the earlier run had not', () => {
    const [iptables] = REPORT_FIXTURE.scale as [ScaleSeries];
    const at10k = { ...iptables.points[1]!, services: 10_000 };
    const ipvs: ScaleSeries = { ...nftables, mode: 'ipvs', points: [redone] };
    const later = { ...rerun, scale: [{ ...iptables, points: [at10k], failures: [] }, ipvs] };
    const m = mergeResults(REPORT_FIXTURE, later, new Set(['scale']), { modes: ['iptables', 'ipvs'] });
    assert.deepEqual(
      m.scale.map((s) => `${s.mode}: ${s.points.map((p) => p.services).join(',')} / ${s.failures.length}`),
      ['iptables: 100,1000,10000 / 0', 'nftables: 100,1000,10000 / 0', 'ipvs: 1000 / 0'],
    );
  });

  it('keeps the other sections, what else was not measured, and records the scope', () => {
    assert.equal(merged.plan, REPORT_FIXTURE.plan);
    assert.deepEqual(merged.dataPath, REPORT_FIXTURE.dataPath);
    assert.deepEqual(merged.notMeasured, REPORT_FIXTURE.notMeasured);
    assert.deepEqual(merged.merged, [
      {
        date: '2026-11-26T09:00:00.000Z',
        sections: ['scale'],
        load: 0.2,
        modes: ['nftables'],
        sizes: [1000, 5000],
      },
    ]);
  });

  it('drops an earlier "not measured" of a series the later run measured, and keeps the others', () => {
    const base: BenchResults = {
      ...REPORT_FIXTURE,
      notMeasured: [
        { what: 'first packet and syncs, nftables (host)', reason: 'no nft', section: 'scale' },
        { what: 'first packet and syncs, iptables (host)', reason: 'section skipped', section: 'scale' },
        { what: 'plan + render, ipvs', reason: 'no module', section: 'plan' },
      ],
    };
    const m = mergeResults(base, rerun, new Set(['scale']), { modes: ['nftables'] });
    assert.deepEqual(
      m.notMeasured.map((n) => n.what),
      ['first packet and syncs, iptables (host)', 'plan + render, ipvs'],
    );
  });

  it('replaces plan series by mode', () => {
    const [ipvsPlan] = REPORT_FIXTURE.plan;
    const nftPlan = { ...ipvsPlan!, mode: 'nftables' as const };
    const later = { ...rerun, plan: [nftPlan] };
    const m = mergeResults(REPORT_FIXTURE, later, new Set(['plan']), { modes: ['nftables'] });
    assert.deepEqual(
      m.plan.map((p) => p.mode),
      ['ipvs', 'nftables'],
    );
    assert.deepEqual(m.scale, REPORT_FIXTURE.scale);
  });

  it('refuses to mix iptables rows of two iptables backends', () => {
    const [iptables] = REPORT_FIXTURE.scale as [ScaleSeries];
    const later = { ...rerun, scale: [{ ...iptables, iptablesBackend: 'nft' as const }] };
    assert.throws(
      () => mergeResults(REPORT_FIXTURE, later, new Set(['scale']), { modes: ['iptables'] }),
      /Cannot merge iptables rows measured with --iptables-backend nft into rows measured with legacy/,
    );
  });
});
