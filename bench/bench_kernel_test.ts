/**
 * Real-kernel test of the benchmark's machinery (needs root; builds kpt- namespaces and removes them):
 * one short data-path repetition through a direct connection, HAProxy, and HAProxy behind kproxy's portal
 * rules, one small scale point through a real kproxy in the iptables and (once kproxy has it) the nftables
 * mode, so that `npm run bench` is known to work end to end; and kproxy's userspace relay as the relay bench
 * (bench/userspace-relay.ts) runs it, through the userspace mode's lab driver.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isProxyMode } from '../src/contracts/proxy_mode.ts';
import { IPTABLES_TOOLS, kernelTestSkip, LAB_TOOLS } from '../src/lab/kernel_tools.ts';
import { endpointAt, planOptions } from '../src/model/testing/fixtures.ts';
import { startLabProxier } from '../src/modes/userspace/testing/lab_proxier.ts';
import type { KernelMode } from './report/results.ts';
import { BACKEND_HTTP_PORT } from './scenarios/bench_backend.ts';
import { type BenchLab, openBenchLab } from './scenarios/bench_lab.ts';
import { runDataPath } from './scenarios/data_path.ts';
import { resetNodeKernelState } from './scenarios/node_reset.ts';
import { runScale } from './scenarios/scale.ts';
import { clusterIpServicePort } from './scenarios/service_ports.ts';
import { prepareKproxy } from './tools/kproxy_build.ts';

const skip = kernelTestSkip(import.meta.url, {
  tools: [...LAB_TOOLS, ...IPTABLES_TOOLS, 'ss', 'curl', 'haproxy', 'wrk', 'iperf3'],
});

describe('benchmark machinery in a lab', { skip }, () => {
  let bench: BenchLab;
  let workDir = '';
  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'kpt-bench-test-'));
    bench = await openBenchLab(1);
  });
  after(async () => {
    await bench?.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('measures a direct connection, one static DNAT rule and HAProxy (directly and behind kproxy portal rules) with wrk and iperf3, and reports an unavailable target', async () => {
    const results = await runDataPath(bench.lab, bench.backend, {
      targets: ['direct', 'static-dnat', 'haproxy', 'haproxy-portals', 'ipvs'],
      repetitions: 1,
      wrkSeconds: 1,
      iperfSeconds: 1,
      connections: 4,
      place: 'host',
      iptablesBackend: 'legacy',
      kproxy: [],
      unavailable: new Map([['ipvs', 'no IPVS here']]),
      workDir,
      log: () => {},
    });
    assert.deepEqual(
      results.map((r) => [r.target, r.status]),
      [
        ['direct', 'measured'],
        ['static-dnat', 'measured'],
        ['haproxy', 'measured'],
        ['haproxy-portals', 'measured'],
        ['ipvs', 'not measured'],
      ],
    );
    const left = await bench.lab.exec(bench.lab.node.ns, ['iptables-legacy-save', '-t', 'nat']);
    assert.doesNotMatch(left.stdout, /KUBE-PORTALS/, 'the portal rules are gone after the visits');
    const tables = await bench.lab.exec(bench.lab.node.ns, ['nft', 'list', 'tables']);
    assert.doesNotMatch(tables.stdout, /kpt-static-dnat/, 'the static DNAT table is gone after the visits');
    for (const r of results) {
      if (r.status !== 'measured') {
        assert.equal(r.reason, 'no IPVS here');
        continue;
      }
      assert.ok(r.metrics.connectionsPerSecond.median > 0);
      assert.ok(r.metrics.requestsPerSecond.median > r.metrics.connectionsPerSecond.median / 10);
      assert.ok(r.metrics.throughputGbps.median > 0);
      assert.ok(r.metrics.latencyP50Ms.median <= r.metrics.latencyP99Ms.median);
      assert.equal(r.metrics.errors, 0);
    }
  });

  /** What is left of a mode's rules in the node after the run: none, since the node is reset. */
  const leftovers: Readonly<Record<'iptables' | 'nftables', readonly string[]>> = {
    iptables: ['iptables-legacy-save', '-t', 'nat'],
    nftables: ['nft', 'list', 'tables'],
  };
  for (const mode of ['iptables', 'nftables'] as const satisfies readonly KernelMode[]) {
    const missing = isProxyMode(mode) ? false : `kproxy has no --proxy-mode ${mode} yet`;
    it(`runs kproxy (${mode}) on generated services, times connects to the last one, and reads its syncs`, {
      skip: missing,
    }, async () => {
      const kproxy = await prepareKproxy({ fromSource: true, log: () => {} });
      const series = await runScale(bench.lab, bench.backend, {
        mode,
        place: 'host',
        iptablesBackend: 'legacy',
        kproxy: kproxy.argv,
        sizes: [20],
        endpointsPerService: 2,
        connects: 30,
        rounds: 3,
        wrkSeconds: 1,
        wrkRuns: 1,
        probe: bench.probe,
        slowdown: 1,
        workDir,
        log: () => {},
      });
      assert.deepEqual(series.failures, []);
      const [point] = series.points;
      assert.ok(point !== undefined);
      assert.equal(point.services, 20);
      assert.equal(
        point.connectUs.samples.length,
        30,
        'every connect to the VIP succeeded (3 batches of 10)',
      );
      assert.equal(point.directConnectUs?.samples.length, 30, 'and every direct one interleaved with them');
      assert.equal(point.baselineConnectUs.samples.length, 30);
      assert.deepEqual(point.interleaving, { rounds: 3, connectsPerBatch: 10, wrkRounds: 1 });
      assert.ok(point.connectionsPerSecond!.median > 0 && point.directConnectionsPerSecond!.median > 0);
      assert.ok(point.firstSyncMs > 0);
      assert.ok(point.restoreLines > 20);
      assert.ok(point.peakRssMb >= point.rssMb && point.rssMb > 10);
      // The daemon's histograms saw the same two syncs as its log (which rounds to the millisecond): the
      // IPv4 family's series, a part of the sync's time when the node also serves IPv6 (the lab does).
      assert.ok(point.metricFirstSyncMs !== undefined && point.metricChangeSyncMs !== undefined);
      assert.ok(point.metricFirstSyncMs > 0 && point.metricFirstSyncMs <= point.firstSyncMs + 1);
      assert.ok(point.metricChangeSyncMs > 0 && point.metricChangeSyncMs <= point.changeSyncMs + 1);
      const left = await bench.lab.exec(bench.lab.node.ns, [...leftovers[mode]]);
      assert.doesNotMatch(left.stdout, /KUBE-|kube-proxy/, 'the node is reset after the run');
    });
  }
  it("runs kproxy's userspace relay in a process of its own, reached through its portal rules", async () => {
    const { lab, backend } = bench;
    const vip = '198.19.0.30';
    const relay = startLabProxier(
      lab,
      planOptions({
        nodeName: 'node-a',
        nodeIPs: [lab.node.ip],
        userspaceRelayEngine: 'net',
        userspacePortals: 'on',
      }),
    );
    try {
      await relay.sync([
        clusterIpServicePort({
          serviceName: 'web',
          clusterIPs: [vip],
          port: 80,
          endpoints: [endpointAt(`${backend.pod.ip}:${BACKEND_HTTP_PORT}`)],
        }),
      ]);
      assert.ok(relay.pid !== undefined);
      const r = await lab.exec(lab.clients[0]!.ns, ['curl', '-s', '-m', '5', `http://${vip}/`]);
      assert.equal(r.stdout.trim(), 'pod0');
      const stats = await relay.stats();
      assert.equal(stats.relayEngine, 'net');
      assert.equal(stats.tcp.accepted, 1);
    } finally {
      await relay.stop();
      await resetNodeKernelState(lab, lab.node.ns);
    }
  });
});
