import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REPORT_FIXTURE } from '../testing/report_fixture.ts';
import { renderBenchCharts } from './charts.ts';
import { genericTable, headlineRatios, renderBenchReadme } from './markdown.ts';

describe('headlineRatios', () => {
  it('compares every measured target with the direct connection of the same place, by medians', () => {
    assert.deepEqual(headlineRatios(REPORT_FIXTURE), [
      'HAProxy: 0.50× new connections/s, 0.50× requests/s, 0.50× bulk throughput, p99 latency 2.00× of direct',
      'kproxy iptables: 0.80× new connections/s, 0.80× requests/s, 0.80× bulk throughput, p99 latency 1.25× of direct',
      'kproxy nftables: 0.96× new connections/s, 0.96× requests/s, 0.96× bulk throughput, p99 latency 1.04× of direct',
    ]);
  });
});

describe('headlineRatios with the userspace relay measured', () => {
  it('also compares the relay with HAProxy, its target', () => {
    const direct = REPORT_FIXTURE.dataPath[0]!;
    const results = {
      ...REPORT_FIXTURE,
      dataPath: REPORT_FIXTURE.dataPath.map((r) =>
        r.target === 'userspace' && direct.status === 'measured'
          ? { ...direct, target: 'userspace' as const }
          : r,
      ),
    };
    assert.equal(
      headlineRatios(results).at(-1),
      'kproxy userspace against HAProxy: 2.00× new connections/s, 2.00× requests/s, 2.00× bulk throughput',
    );
  });
});

describe('headlineRatios with HAProxy behind the portal rules measured', () => {
  it('compares the relay with it, and it with HAProxy reached directly', () => {
    const results = {
      ...REPORT_FIXTURE,
      dataPath: [
        ...REPORT_FIXTURE.dataPath.map((r) =>
          r.target === 'userspace' ? { ...REPORT_FIXTURE.dataPath[1]!, target: 'userspace' as const } : r,
        ),
        { ...REPORT_FIXTURE.dataPath[0]!, target: 'haproxy-portals' as const },
      ],
    };
    assert.deepEqual(headlineRatios(results).slice(-3), [
      'kproxy userspace against HAProxy: 1.00× new connections/s, 1.00× requests/s, 1.00× bulk throughput',
      "kproxy userspace against HAProxy behind kproxy's portal rules: 0.50× new connections/s, 0.50× requests/s, 0.50× bulk throughput",
      "HAProxy behind kproxy's portal rules against HAProxy: 2.00× new connections/s, 2.00× requests/s, 2.00× bulk throughput",
    ]);
  });
});

describe('renderBenchReadme', () => {
  const readme = renderBenchReadme(REPORT_FIXTURE, 'bench/results/x.json', renderBenchCharts(REPORT_FIXTURE));

  it('names the date, the mode of the run, the machine and the raw results file', () => {
    assert.match(readme, /^# kproxy benchmarks$/m);
    assert.match(readme, /Latest run: \*\*2026-11-25T08:00:00\.000Z\*\* \(quick mode/);
    assert.match(readme, /Machine: Test CPU, 2 cores, 4 GB, Linux 6\.1\.0/);
    assert.match(readme, /\[`bench\/results\/x\.json`\]\(\.\.\/\.\.\/bench\/results\/x\.json\)/);
  });

  it('tabulates medians with their spread and the ratio to direct', () => {
    assert.match(
      readme,
      /^\| HAProxy \| 5,000 \(4,500–5,500\) \| 0\.50× \| 25,000 \(20,000–30,000\) \| 0\.50× \|/m,
    );
    assert.match(readme, /^\| direct \| 10,000 \(9,000–11,000\) \| 1\.00× \|/m);
  });

  it('shows a target that could not be measured with its reason, escaped for the table', () => {
    assert.match(readme, /^\| kproxy userspace \| not measured: kproxy exited \(1\) \\\| bad \\\| thing \|/m);
    assert.match(readme, /^- data path, kproxy userspace: kproxy exited \(1\) \\\| bad \\\| thing$/m);
  });

  it('lists sizes that failed and sections that did not run', () => {
    assert.match(
      readme,
      /^- iptables \(host\) at 10,000 services: kproxy did not report the expected sync$/m,
    );
    assert.match(readme, /^- ipvs and iptables in the guest: section skipped$/m);
  });

  it('reports the first-packet cost of older results against the direct connects before kproxy, and says so', () => {
    assert.match(
      readme,
      /^\| iptables \(legacy\) \| host \| 1,000 \| 210 \(202–218\) \| n\/a \| 110 µs \(2\.10×\) \(before kproxy\) \| 100 \| 9,000 \| 10,000 \(before kproxy\) \| 0\.90× \|$/m,
    );
  });

  it('reports syncs, memory and plan times', () => {
    assert.match(
      readme,
      /^\| iptables \(legacy\) \| host \| 1,000 × 10 \| 500 \(log\) \| 20\.0 \(partial, log\) \| 12,000 \| 100 \(120\) \|$/m,
      "the daemon's log line where the metrics did not isolate the sync",
    );
    assert.match(
      readme,
      /^\| nftables \| host \| 10,000 × 10 \| 800 \| 12\.5 \(partial\) \| 50,000 \| 90\.0 \(110\) \|$/m,
      "the daemon's sync-duration metrics",
    );
    assert.match(
      readme,
      /^\| ipvs \| 1,000 × 10 \| 30\.0 \(20\.0–40\.0\) \| 600 KiB, 14,000 lines \| 1,400 \| 15\.0 \|$/m,
    );
  });

  it('reports the first-packet cost of nftables beside iptables', () => {
    assert.match(
      readme,
      /^\| nftables \| host \| 10,000 \| 100 \(96\.0–104\) \| 90\.0 \| 10\.0 µs \(1\.11×\) \| 90\.0 \| 8,500 \| 11,000 \| 0\.77× \|$/m,
      'against the direct connects and runs of the same window',
    );
    assert.match(
      readme,
      /^\| mode \| place \| services \| VIP connect µs, median \(p10–p90\) \| direct µs, same window \| added by the rules \| direct µs, before kproxy \|/m,
    );
  });

  it("checks issue 14's targets, nftables beside iptables", () => {
    assert.match(readme, /^## Targets of the nftables mode \(issue 14\)$/m);
    assert.match(readme, /^\| target \| goal \| iptables \| nftables \|$/m);
    assert.match(
      readme,
      /^\| Full sync of 10,000 services × 10 endpoints \(full-sync duration metric\) \| < 1,000 ms \| 500 ms \(not judged; at 1,000 services, not 10,000; from the daemon's log\) \| 800 ms \(met\) \|$/m,
    );
  });

  it('says how many services kproxy programs in the data path', () => {
    assert.match(
      readme,
      /through a ClusterIP \(one of 100 services kproxy programs, the others with unreachable endpoints\)/,
    );
  });

  it('links only the charts that have data', () => {
    assert.match(readme, /!\[[^\]]+\]\(data-path\.svg\)/);
    assert.match(readme, /!\[[^\]]+\]\(first-packet\.svg\)/);
    for (const file of ['first-packet-scaling.svg', 'syncs-full.svg', 'syncs-change.svg']) {
      assert.match(readme, new RegExp(`!\\[[^\\]]+\\]\\(${file.replace('.', '\\.')}\\)`), file);
    }
    assert.doesNotMatch(readme, /first-packet-guest\.svg/);
    assert.doesNotMatch(readme, /control-plane-guest\.svg/);
  });
});

describe('genericTable', () => {
  it('keeps the wanted columns some row has, in the wanted order', () => {
    assert.deepEqual(
      genericTable(
        [
          { services: 1000, fullSyncMs: 120.4, extra: 'x' },
          { services: 5000, fullSyncMs: 700 },
        ],
        ['services', 'missing', 'fullSyncMs'],
      ),
      ['| services | fullSyncMs |', '|---:|---:|', '| 1,000 | 120 |', '| 5,000 | 700 |'],
    );
  });
});
