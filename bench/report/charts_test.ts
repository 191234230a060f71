import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REPORT_FIXTURE } from '../testing/report_fixture.ts';
import { renderBenchCharts } from './charts.ts';

describe('renderBenchCharts', () => {
  const charts = renderBenchCharts(REPORT_FIXTURE);

  it('always writes the same set of files', () => {
    assert.deepEqual(charts.map((c) => c.file).sort(), [
      'control-plane-guest.svg',
      'control-plane.svg',
      'data-path.svg',
      'first-packet-guest.svg',
      'first-packet-rate.svg',
      'first-packet.svg',
    ]);
  });

  it('says which charts have data (none from the guest here)', () => {
    const has = Object.fromEntries(charts.map((c) => [c.file, c.hasData]));
    assert.deepEqual(has, {
      'data-path.svg': true,
      'first-packet-rate.svg': true,
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
    const svg = charts.find((c) => c.file === 'control-plane.svg')!.svg;
    for (const name of [
      'iptables: first full sync',
      'iptables: one-endpoint change',
      'ipvs: plan + render only',
    ]) {
      assert.ok(svg.includes(`>${name}</text>`), name);
    }
  });
});
