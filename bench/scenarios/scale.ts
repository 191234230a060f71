/**
 * Sections 2 and 3 of the benchmark, which share their runs: for each service count N, kproxy runs on N
 * generated services × E endpoints in the lab's node namespace, and one run yields
 * - the first-packet cost: connect time from the client to the last-added service's VIP (its endpoints are
 *   the backend pod's extra addresses), beside direct connects to one of those endpoints in the same time
 *   window (after the first sync, batches interleaved: interleave.ts), and the same for wrk's new
 *   connections/s; a direct connect before kproxy started is kept as the rule-free reference;
 * - the control plane as the kernel sees it: the daemon's first (full) sync and a one-endpoint change, as
 *   its own log and its sync-duration metrics report them, and its memory. (Plan time alone is pure CPU:
 *   see plan_series.ts.)
 *
 * @module
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lab } from '../../src/lab/lab.ts';
import type { KernelMode, Place, ScalePoint, ScaleSeries } from '../report/results.ts';
import { type Summary, summarize } from '../report/stats.ts';
import { BenchError } from '../tools/bench_error.ts';
import type { ConnectProbe } from '../tools/connect_probe.ts';
import type { ConnectTimes } from '../tools/connect_timer.ts';
import { readSyncDurations, type SyncDurations, syncBetween } from '../tools/kproxy_metrics.ts';
import { KPROXY_METRICS_ADDRESS, kproxyMode, startKproxy } from '../tools/kproxy_run.ts';
import { parseWrkOutput, wrkArgv } from '../tools/wrk.ts';
import type { Backend } from './bench_backend.ts';
import { connectsPerBatch, runInterleaved } from './interleave.ts';
import { resetNodeKernelState } from './node_reset.ts';
import {
  SERVICE_PORT,
  serviceVip,
  TARGET_PORT,
  writeEndpointSlice,
  writeServiceSet,
} from './service_manifests.ts';

/** Options of {@link runScale}. */
export interface ScaleOptions {
  readonly mode: KernelMode;
  readonly place: Place;
  readonly iptablesBackend: 'legacy' | 'nft';
  /** The command prefix that starts kproxy (kproxy_build.ts). */
  readonly kproxy: readonly string[];
  /** Service counts, ascending. */
  readonly sizes: readonly number[];
  readonly endpointsPerService: number;
  /** Counted connects per leg (direct, VIP), split over the rounds' batches (plus a few warm-up ones each). */
  readonly connects: number;
  /**
   * Rounds of one direct and one VIP batch of connects, alternating which goes first (interleave.ts):
   * both figures from the same time window, so that a shared machine's drift does not count as the rules'.
   */
  readonly rounds: number;
  /**
   * Seconds of a wrk `Connection: close` run to the last service (and, interleaved with it, to its
   * endpoint): connections/s is CPU-bound, so it shows the per-connection cost of the rules even where
   * single connect times are dominated by wakeups (the emulated guest); 0 skips it.
   */
  readonly wrkSeconds: number;
  /** How many such runs per leg, one direct and one VIP per round (median and spread reported). */
  readonly wrkRuns: number;
  /** The connect probe in the lab's client namespace. */
  readonly probe: ConnectProbe;
  /** Multiplies every timeout (the guest's software CPU is many times slower). */
  readonly slowdown: number;
  readonly workDir: string;
  readonly log: (line: string) => void;
}

/**
 * Runs one mode's scale series.
 *
 * @param lab a lab with one client and the backend's pod
 * @param backend the running backend, with at least `endpointsPerService + 1` extra addresses
 * @param options mode, sizes, counts
 * @returns the series (sizes that failed are listed with their reason)
 */
export async function runScale(lab: Lab, backend: Backend, options: ScaleOptions): Promise<ScaleSeries> {
  if (backend.extraAddresses.length < options.endpointsPerService + 1) {
    throw new BenchError(`The backend needs ${options.endpointsPerService + 1} extra addresses`);
  }
  const points: ScalePoint[] = [];
  const failures: { services: number; reason: string }[] = [];
  for (const services of options.sizes) {
    try {
      points.push(await runPoint(lab, backend, services, options));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      failures.push({ services, reason });
      options.log(`  ${options.place} ${options.mode} ${services} services: not measured: ${reason}`);
    }
  }
  return {
    mode: options.mode,
    place: options.place,
    iptablesBackend: options.iptablesBackend,
    points,
    failures,
  };
}

async function runPoint(
  lab: Lab,
  backend: Backend,
  services: number,
  options: ScaleOptions,
): Promise<ScalePoint> {
  const e = options.endpointsPerService;
  const measured = backend.extraAddresses.slice(0, e);
  const last = services - 1;
  const dir = join(options.workDir, `scale-${options.mode}-${services}`);
  await mkdir(dir, { recursive: true });
  const kproxy = startKproxyLater();
  try {
    const files = await writeServiceSet(dir, {
      services,
      endpointsPerService: e,
      endpointsOf: (i) => (i === last ? measured : undefined),
    });
    // The rule-free reference (no kproxy yet): minutes away from the VIP figures, so not their baseline.
    const baseline = await connects(measured[0]!, TARGET_PORT, options.connects, options);
    const proc = kproxy.start(() =>
      startKproxy(lab, lab.node.ns, {
        command: options.kproxy,
        mode: kproxyMode(options.mode),
        manifests: dir,
        nodeIp: lab.node.ip,
        iptablesBackend: options.iptablesBackend,
      }),
    );
    const first = await proc.waitForSync((s) => s.servicePorts >= services, {
      from: 0,
      timeoutMs: (60_000 + services * 30) * options.slowdown,
    });
    const window = await interleavedConnects(measured[0]!, serviceVip(last), options);
    const rates = await interleavedRates(
      lab,
      `http://${measured[0]}:${TARGET_PORT}/`,
      `http://${serviceVip(last)}:${SERVICE_PORT}/`,
      options,
    );
    const metricsBefore = await syncMetrics(lab, options);
    // One endpoint of the measured service is replaced by the pod's spare address.
    const before = proc.syncs.length;
    await writeEndpointSlice(files.lastSliceFile, last, [
      ...measured.slice(0, e - 1),
      backend.extraAddresses[e]!,
    ]);
    const change = await proc.waitForSync(() => true, { from: before, timeoutMs: 60_000 * options.slowdown });
    const metricsAfter = await syncMetrics(lab, options);
    const memory = await proc.memory();
    const point: ScalePoint = {
      services,
      endpointsPerService: e,
      connectUs: summarize(window.vip),
      baselineConnectUs: summarize(baseline.samplesUs),
      connectionsPerSecond: rates?.vip,
      directConnectUs: summarize(window.direct),
      directConnectionsPerSecond: rates?.direct,
      interleaving: {
        rounds: options.rounds,
        connectsPerBatch: connectsPerBatch(options.connects, options.rounds),
        wrkRounds: rates === undefined ? 0 : options.wrkRuns,
      },
      firstSyncMs: first.durationMs,
      changeSyncMs: change.durationMs,
      changeSyncKind: change.kind,
      // The first sync is the only full one before the change; the change is the only sync after it.
      metricFirstSyncMs: metricsBefore && syncBetween(undefined, metricsBefore.full),
      metricChangeSyncMs:
        metricsBefore && metricsAfter && syncBetween(metricsBefore[change.kind], metricsAfter[change.kind]),
      restoreLines: first.restoreLines,
      rssMb: Math.round(memory.rssKb / 102.4) / 10,
      peakRssMb: Math.round(memory.peakRssKb / 102.4) / 10,
    };
    const direct = point.directConnectUs!.median;
    options.log(
      `  ${options.place} ${options.mode} ${services} services: connect ${point.connectUs.median.toFixed(1)} µs ` +
        `(direct, same window ${direct.toFixed(1)} µs: rules +${(point.connectUs.median - direct).toFixed(1)} µs; ` +
        `direct before kproxy ${point.baselineConnectUs.median.toFixed(1)} µs), ` +
        `${Math.round(rates?.vip.median ?? 0)} conn/s (direct, same window ${Math.round(rates?.direct.median ?? 0)}), ` +
        `first sync ${point.firstSyncMs} ms, ` +
        `change ${point.changeSyncMs} ms (${point.changeSyncKind}; metrics: first ${point.metricFirstSyncMs ?? '?'} ms, ` +
        `change ${point.metricChangeSyncMs ?? '?'} ms), ${point.restoreLines} restore lines, ` +
        `peak RSS ${point.peakRssMb} MB`,
    );
    return point;
  } finally {
    await kproxy.stop();
    await resetNodeKernelState(lab, lab.node.ns);
    await rm(dir, { recursive: true, force: true });
  }
}

/** The daemon's sync-duration histograms, or undefined (logged) when /metrics cannot be read: the log's figures remain. */
async function syncMetrics(lab: Lab, options: ScaleOptions): Promise<SyncDurations | undefined> {
  try {
    return await readSyncDurations(lab, lab.node.ns, KPROXY_METRICS_ADDRESS);
  } catch (error) {
    options.log(`  metrics not read: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/** Holds the kproxy of a point so that `finally` stops it whatever happened before or after it started. */
function startKproxyLater() {
  let proc: ReturnType<typeof startKproxy> | undefined;
  return {
    start(create: () => ReturnType<typeof startKproxy>) {
      proc = create();
      return proc;
    },
    async stop() {
      await proc?.stop();
    },
  };
}

/**
 * Direct and VIP connects in interleaved batches (interleave.ts), every batch's samples pooled per leg.
 *
 * @throws {BenchError} when a leg got no connection at all
 */
async function interleavedConnects(
  endpoint: string,
  vip: string,
  options: ScaleOptions,
): Promise<{ direct: number[]; vip: number[] }> {
  const perBatch = connectsPerBatch(options.connects, options.rounds);
  const batches = await runInterleaved(options.rounds, (leg) =>
    leg === 'vip'
      ? connects(vip, SERVICE_PORT, perBatch, options)
      : connects(endpoint, TARGET_PORT, perBatch, options),
  );
  const pooled = {
    direct: batches.direct.flatMap((b) => b.samplesUs),
    vip: batches.vip.flatMap((b) => b.samplesUs),
  };
  for (const leg of ['vip', 'direct'] as const) {
    if (pooled[leg].length === 0) {
      const target =
        leg === 'vip' ? `the last service ${vip}:${SERVICE_PORT}` : `the endpoint ${endpoint}:${TARGET_PORT}`;
      throw new BenchError(`No connection to ${target}: ${batches[leg][0]?.firstFailure}`);
    }
  }
  return pooled;
}

/**
 * New connections/s with wrk and `Connection: close` from the lab's client: `wrkRuns` rounds of one direct
 * and one VIP run, interleaved; undefined when disabled.
 */
async function interleavedRates(
  lab: Lab,
  directUrl: string,
  vipUrl: string,
  options: ScaleOptions,
): Promise<{ direct: Summary; vip: Summary } | undefined> {
  if (options.wrkSeconds === 0 || options.wrkRuns === 0) return undefined;
  const runs = await runInterleaved(options.wrkRuns, (leg) =>
    wrkRate(lab, leg === 'vip' ? vipUrl : directUrl, options),
  );
  return { direct: summarize(runs.direct), vip: summarize(runs.vip) };
}

async function wrkRate(lab: Lab, url: string, options: ScaleOptions): Promise<number> {
  const argv = wrkArgv({
    url,
    durationSeconds: options.wrkSeconds,
    connections: 16,
    threads: 1,
    newConnectionPerRequest: true,
  });
  const r = await lab.exec(lab.clients[0]!.ns, argv, {
    signal: AbortSignal.timeout((options.wrkSeconds + 20) * 1000 * options.slowdown),
  });
  if (r.code !== 0) throw new BenchError(`wrk failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  return parseWrkOutput(r.stdout).requestsPerSecond;
}

async function connects(
  host: string,
  port: number,
  count: number,
  options: ScaleOptions,
): Promise<ConnectTimes> {
  return options.probe.measure(
    { host, port, count, warmup: 10, timeoutMs: 3000 },
    (30_000 + count * 50) * options.slowdown,
  );
}
