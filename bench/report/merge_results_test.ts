import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REPORT_FIXTURE } from '../testing/report_fixture.ts';
import { mergeResults } from './merge_results.ts';
import type { BenchResults } from './results.ts';

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
