import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REPORT_FIXTURE } from '../testing/report_fixture.ts';
import type { BenchResults } from './results.ts';
import { summarize } from './stats.ts';
import { formatTargetCell, targetRows, targetsTable } from './targets.ts';

/** Every row as `what: iptables cell | nftables cell`, the cells as the report writes them. */
function summary(results: BenchResults): string[] {
  return targetRows(results).map(
    (r) =>
      `${r.what}: ${formatTargetCell(r.cells.get('iptables')!)} | ${formatTargetCell(r.cells.get('nftables')!)}`,
  );
}

describe('targetRows', () => {
  it("judges each mode's figures at the sizes the issue states, and only there", () => {
    assert.deepEqual(summary(REPORT_FIXTURE), [
      'First packet, sequential connects: conn/s to the last-added of 10,000 services ÷ the same at 100: 0.57× (not judged; raw 0.57×; direct before kproxy; at 1,000 services, not 10,000) | 1.00× (met; raw 1.00×)',
      'First packet under load (wrk, Connection: close): the same ratio: 1.00× (not judged; raw 1.00×; direct before kproxy; at 1,000 services, not 10,000) | 0.85× (missed; raw 0.85×)',
      "Full sync of 10,000 services × 10 endpoints (full-sync duration metric): 500 ms (not judged; at 1,000 services, not 10,000; from the daemon's log) | 800 ms (met)",
      "One-endpoint change at 10,000 services × 10 (partial-sync duration metric): 20.0 ms (not judged; at 1,000 services, not 10,000; from the daemon's log) | 12.5 ms (met)",
      'Data path at 100 services: requests/s (keep-alive) ÷ direct: 0.80× (missed) | 0.96× (met)',
      'Data path at 100 services: bulk throughput ÷ direct: 0.80× (missed) | 0.96× (met)',
    ]);
  });

  it('shows beside the data-path ratios what one static DNAT rule costs, when it was measured', () => {
    const direct = REPORT_FIXTURE.dataPath.find((r) => r.target === 'direct' && r.place === 'host')!;
    const withDnat: BenchResults = {
      ...REPORT_FIXTURE,
      dataPath: [...REPORT_FIXTURE.dataPath, { ...direct, target: 'static-dnat' as const }],
    };
    const rows = summary(withDnat).filter((r) => r.startsWith('Data path'));
    assert.deepEqual(rows, [
      'Data path at 100 services: requests/s (keep-alive) ÷ direct: 0.80× (missed; one static DNAT rule, no kproxy: 1.00×) | 0.96× (met; one static DNAT rule, no kproxy: 1.00×)',
      'Data path at 100 services: bulk throughput ÷ direct: 0.80× (missed; one static DNAT rule, no kproxy: 1.00×) | 0.96× (met; one static DNAT rule, no kproxy: 1.00×)',
    ]);
  });

  it('misses a one-endpoint change that took a full sync or too long, and says which it was', () => {
    const nftables = REPORT_FIXTURE.scale[1]!;
    const slow = {
      ...REPORT_FIXTURE,
      scale: [
        {
          ...nftables,
          points: nftables.points.map((p) => ({
            ...p,
            changeSyncKind: 'full' as const,
            metricChangeSyncMs: 700,
          })),
        },
      ],
    };
    const change = targetRows(slow)[3]!;
    assert.equal(formatTargetCell(change.cells.get('nftables')!), '700 ms (missed; a full sync)');
    assert.equal(formatTargetCell(change.cells.get('iptables')!), 'not measured');
  });

  it('gives the digits of a ratio that misses its goal but rounds to it', () => {
    const [direct, , , , nftables] = REPORT_FIXTURE.dataPath;
    assert.ok(direct?.status === 'measured' && nftables?.status === 'measured');
    const requests = { ...direct.metrics.requestsPerSecond, median: 50_000 * 0.9497 };
    const close = {
      ...REPORT_FIXTURE,
      dataPath: [direct, { ...nftables, metrics: { ...nftables.metrics, requestsPerSecond: requests } }],
    };
    const cell = targetRows(close)[4]!.cells.get('nftables')!;
    assert.equal(formatTargetCell(cell), '0.95× (missed; 0.9497, just under)');
  });

  it('does not judge a data path that ran with another number of services (older results)', () => {
    const older = {
      ...REPORT_FIXTURE,
      dataPathSettings: { ...REPORT_FIXTURE.dataPathSettings, services: undefined },
    };
    const cell = targetRows(older)[4]!.cells.get('nftables')!;
    assert.equal(formatTargetCell(cell), '0.96× (not judged; with 1 service)');
  });

  it('does not judge a first-packet ratio against another base size than 100', () => {
    const nftables = REPORT_FIXTURE.scale[1]!;
    const from1k = { ...REPORT_FIXTURE, scale: [{ ...nftables, points: nftables.points.slice(1) }] };
    assert.equal(
      formatTargetCell(targetRows(from1k)[1]!.cells.get('nftables')!),
      '0.85× (not judged; raw 0.85×; against 1,000 services)',
    );
  });

  it('does not judge a ratio whose same-window direct connects got slower with more services too, and says why', () => {
    const nftables = REPORT_FIXTURE.scale[1]!;
    // A chain every connection walks: direct and VIP both 60 µs slower at 10k, so the ratio hides it.
    const walked = nftables.points.map((p) =>
      p.services < 10_000
        ? p
        : {
            ...p,
            connectUs: summarize([160]),
            directConnectUs: summarize([150]),
            baselineConnectUs: summarize([90]),
          },
    );
    const cell = targetRows({ ...REPORT_FIXTURE, scale: [{ ...nftables, points: walked }] })[0]!.cells.get(
      'nftables',
    )!;
    assert.equal(
      formatTargetCell(cell),
      '1.04× (not judged; raw 0.63×; direct connects too took 1.67× their time at 100 services: rules every connection walks are not in this ratio)',
    );
  });

  it('does the same under load when the direct conn/s dropped with more services', () => {
    const nftables = REPORT_FIXTURE.scale[1]!;
    const walked = nftables.points.map((p) =>
      p.services < 10_000
        ? p
        : { ...p, connectionsPerSecond: summarize([6000]), directConnectionsPerSecond: summarize([7000]) },
    );
    const cell = targetRows({ ...REPORT_FIXTURE, scale: [{ ...nftables, points: walked }] })[1]!.cells.get(
      'nftables',
    )!;
    assert.equal(
      formatTargetCell(cell),
      '0.94× (not judged; raw 0.60×; direct conn/s too 0.64× of at 100 services: rules every connection walks are not in this ratio)',
    );
  });

  it('leaves out nothing: a mode without figures is "not measured" in every row', () => {
    const none = { ...REPORT_FIXTURE, scale: [], dataPath: [] };
    for (const r of targetRows(none)) {
      assert.deepEqual([...r.cells.values()].map(formatTargetCell), ['not measured', 'not measured']);
    }
  });
});

describe('targetsTable', () => {
  it('writes one row per target, one column per mode, escaped for Markdown', () => {
    const lines = targetsTable(targetRows(REPORT_FIXTURE));
    assert.equal(lines[0], '| target | goal | iptables | nftables |');
    assert.equal(lines.length, 2 + 6);
    assert.match(
      lines[5]!,
      /^\| One-endpoint change at 10,000 services × 10 .* \| < 50 ms \| .* \| 12\.5 ms \(met\) \|$/,
    );
  });
});
