/**
 * Sections 2 and 3 of the benchmark, which share their runs: for each service count N, kproxy runs on N
 * generated services × E endpoints in the lab's node namespace, and one run yields
 * - the first-packet cost: connect time from the client to the last-added service's VIP (its endpoints are
 *   the backend pod's extra addresses), beside a direct connect measured before kproxy started;
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
  /** Counted connects per measurement (plus a few warm-up ones). */
  readonly connects: number;
  /**
   * Seconds of a wrk `Connection: close` run to the last service (and to its endpoint before kproxy
   * started): connections/s is CPU-bound, so it shows the per-connection cost of the rules even where
   * single connect times are dominated by wakeups (the emulated guest); 0 skips it.
   */
  readonly wrkSeconds: number;
  /** How many such runs (median and spread reported). */
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
    const baseline = await connects(measured[0]!, TARGET_PORT, options);
    const baselineRate = await connectionRate(lab, `http://${measured[0]}:${TARGET_PORT}/`, options);
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
    const vip = await connects(serviceVip(last), SERVICE_PORT, options);
    if (vip.samplesUs.length === 0) {
      throw new BenchError(
        `No connection to the last service ${serviceVip(last)}:${SERVICE_PORT}: ${vip.firstFailure}`,
      );
    }
    const rate = await connectionRate(lab, `http://${serviceVip(last)}:${SERVICE_PORT}/`, options);
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
      connectUs: summarize(vip.samplesUs),
      baselineConnectUs: summarize(baseline.samplesUs),
      connectionsPerSecond: rate,
      baselineConnectionsPerSecond: baselineRate,
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
    options.log(
      `  ${options.place} ${options.mode} ${services} services: connect ${point.connectUs.median.toFixed(1)} µs ` +
        `(direct ${point.baselineConnectUs.median.toFixed(1)} µs), ${Math.round(rate?.median ?? 0)} conn/s ` +
        `(direct ${Math.round(baselineRate?.median ?? 0)}), first sync ${point.firstSyncMs} ms, ` +
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

/** New connections/s with wrk and `Connection: close` from the lab's client, `wrkRuns` times; undefined when disabled. */
async function connectionRate(lab: Lab, url: string, options: ScaleOptions): Promise<Summary | undefined> {
  if (options.wrkSeconds === 0 || options.wrkRuns === 0) return undefined;
  const samples: number[] = [];
  for (let i = 0; i < options.wrkRuns; i++) samples.push(await wrkRate(lab, url, options));
  return summarize(samples);
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

async function connects(host: string, port: number, options: ScaleOptions): Promise<ConnectTimes> {
  return options.probe.measure(
    { host, port, count: options.connects, warmup: 20, timeoutMs: 3000 },
    (30_000 + options.connects * 50) * options.slowdown,
  );
}
