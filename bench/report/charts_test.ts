import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REPORT_FIXTURE } from '../testing/report_fixture.ts';
import { renderBenchCharts } from './charts.ts';

describe('renderBenchCharts', () => {
  const charts = renderBenchCharts(REPORT_FIXTURE);
  const svgOf = (file: string) => charts.find((c) => c.file === file)!.svg;
  /** Every name is in the chart's legend. */
  const assertLegend = (file: string, names: readonly string[]) => {
    for (const name of names) assert.ok(svgOf(file).includes(`>${name}</text>`), `${file}: ${name}`);
  };

  it('always writes the same set of files', () => {
    assert.deepEqual(charts.map((c) => c.file).sort(), [
      'control-plane-guest.svg',
      'control-plane.svg',
      'data-path.svg',
      'first-packet-guest.svg',
      'first-packet-rate.svg',
      'first-packet-scaling.svg',
      'first-packet.svg',
      'syncs-change.svg',
      'syncs-full.svg',
    ]);
  });

  it('says which charts have data (none from the guest here)', () => {
    const has = Object.fromEntries(charts.map((c) => [c.file, c.hasData]));
    assert.deepEqual(has, {
      'data-path.svg': true,
      'first-packet-rate.svg': true,
      'first-packet-scaling.svg': true,
      'syncs-full.svg': true,
      'syncs-change.svg': true,
      'first-packet.svg': true,
      'control-plane.svg': true,
      'first-packet-guest.svg': false,
      'control-plane-guest.svg': false,
    });
  });

  it('draws ratios to direct for the proxies, with the unmeasured one marked', () => {
    const svg = charts.find((c) => c.file === 'data-path.svg')!.svg;
    assert.match(svg, /<title>HAProxy, new connections\/s: 0\.5 \(0\.45-0\.55\)<\/title>/);
    assert.match(svg, /<title>kproxy iptables, bulk throughput: 0\.8 \(0\.8-0\.8\)<\/title>/);
    assert.equal(svg.match(/>n\/m</g)?.length, 3, 'userspace: three metrics not measured');
    assert.doesNotMatch(svg, />direct</, 'the baseline is the reference line, not a bar');
  });

  it('plots sync and plan times against services', () => {
    assertLegend('control-plane.svg', [
      'iptables: first full sync',
      'iptables: one-endpoint change',
      'nftables: first full sync',
      'ipvs: plan + render only',
    ]);
  });

  it("plots each mode's first-packet rate against its own at 100 services, with the goal", () => {
    assertLegend('first-packet-scaling.svg', [
      'iptables (legacy): sequential connects',
      'iptables (legacy): under load (wrk)',
      'nftables: sequential connects',
      'nftables: under load (wrk)',
    ]);
    const svg = svgOf('first-packet-scaling.svg');
    assert.match(svg, /<title>nftables: under load \(wrk\): 10k → 0\.85<\/title>/);
    assert.match(svg, /<title>iptables \(legacy\): sequential connects: 1k → 0\.571<\/title>/);
    assert.match(svg, />goal at 10,000 services: 0\.90×</);
  });

  it("draws the daemon's syncs per size and mode as bars, metrics first, with the goals at 10k", () => {
    const full = svgOf('syncs-full.svg');
    assert.match(full, /<title>nftables, 10,000 × 10: 800<\/title>/);
    assert.match(full, /<title>iptables \(legacy\), 1,000 × 10: 500<\/title>/);
    assert.equal(full.match(/>n\/m</g)?.length, 1, 'iptables at 10k failed');
    assert.match(full, />goal at 10,000 × 10: &lt; 1,000 ms</);
    const change = svgOf('syncs-change.svg');
    assert.match(change, /<title>nftables, 10,000 × 10: 12\.5<\/title>/);
    assert.match(change, />goal at 10,000 × 10: &lt; 50 ms</);
  });
});
