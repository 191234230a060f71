/**
 * One fault × mode run of the chaos lab: a fresh lab (src/lab/lab.ts: a node, one client, three pods with
 * identity servers), kproxy in the node namespace on the probed service, steady TCP and UDP traffic from
 * the client through the VIP, then warm-up, the fault, settling; the figures of both kinds of traffic.
 *
 * kproxy always runs in a private mount namespace whose /run is an empty tmpfs (`unshare -m`), so that its
 * xtables lock is its own: another helper's iptables on the host never delays it, and the xtables-lock
 * fault never blocks the host's own iptables users.
 *
 * @module
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExec, mustExec } from '../../src/kernel/exec.ts';
import { type ResolvedIptablesBackend, resolveIptablesBackend } from '../../src/kernel/iptables.ts';
import { KPROXY_ARGV, type KproxyProcess, spawnKproxy } from '../../src/lab/kproxy_daemon.ts';
import { createLab, DEFAULT_LAB_START_TIMEOUT_MS, type Lab } from '../../src/lab/lab.ts';
import { runProbe } from '../../src/lab/run_probe.ts';
import { BenchError } from '../tools/bench_error.ts';
import { type ApiServerChild, startApiServerChild } from './apiserver_client.ts';
import { type FaultContext, injectFault } from './faults.ts';
import {
  CHAOS_TCP_PORT,
  CHAOS_UDP_PORT,
  CHAOS_VIP,
  type ChaosEndpoint,
  serviceManifest,
} from './manifests.ts';
import { figures, type TrafficFigures } from './outages.ts';
import type { ChaosRunResult } from './report.ts';
import { type ChaosMode, DEFAULT_ATTEMPT_TIMEOUT_MS, type FaultName, phaseTimes } from './schedule.ts';
import { startTraffic } from './traffic_client.ts';

/** Per-attempt timeout of the traffic (ms): a SYN lost once costs a second, and counts as a failure. */

/** How many outages of each kind of traffic the report keeps (the figures count them all). */
const KEPT_OUTAGES = 40;

/** How one run is set up. */
export interface ChaosRunSettings {
  readonly mode: ChaosMode;
  readonly fault: FaultName;
  readonly quick: boolean;
  readonly syncPeriodMs: number;
  /** Progress lines. */
  readonly log: (line: string) => void;
  /**
   * How much longer every start-up wait may take (the emulated guest is several times slower): the lab's
   * identity servers, the API server child, kproxy's first sync, the first probe, the traffic child.
   */
  readonly slowdown?: number | undefined;
  /** How long each traffic attempt waits (default {@link DEFAULT_ATTEMPT_TIMEOUT_MS}). */
  readonly attemptTimeoutMs?: number | undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The command prefix: kproxy in its own mount namespace, with a private /run (see the module comment). */
function privateRunCommand(): string[] {
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    '--',
    'sh',
    '-c',
    'mount -t tmpfs -o size=1m chaos-run /run && exec "$@"',
    'kproxy-chaos',
    ...KPROXY_ARGV,
  ];
}

/**
 * Runs one fault in one mode and measures it.
 *
 * @param settings mode, fault, phase lengths, kproxy's sync period
 * @returns the run's figures (or its error)
 * @example await runChaos({ mode: 'iptables', fault: 'kill9', quick: true, syncPeriodMs: 2000, log: console.log })
 */
export async function runChaos(settings: ChaosRunSettings): Promise<ChaosRunResult> {
  const { mode, fault, log } = settings;
  const times = phaseTimes(fault, settings.quick);
  const slow = settings.slowdown ?? 1;
  const notes: string[] = [];
  const attemptTimeoutMs = settings.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
  if (attemptTimeoutMs !== DEFAULT_ATTEMPT_TIMEOUT_MS)
    notes.push(`every attempt waited up to ${attemptTimeoutMs} ms (the report's table counts with 1 s)`);
  const started = Date.now();
  let lab: Lab | undefined;
  let api: ApiServerChild | undefined;
  let dir = '';
  let kproxy: KproxyProcess | undefined;
  const daemons: KproxyProcess[] = [];
  const marks: Record<string, number> = {};
  try {
    // Each identity server is Node with the tsx loader: about 3.5 s of CPU in the emulated guest (0.4 s
    // without tsx), and the lab starts the three at once, so on a busy host they miss the lab's default
    // wait (15 s). The other start-up waits below scale the same way.
    lab = await createLab({
      tag: 'chaos',
      clients: 1,
      pods: 3,
      startTimeoutMs: DEFAULT_LAB_START_TIMEOUT_MS * slow,
    });
    const theLab = lab;
    // Where the set-up time goes (in the emulated guest it is most of a run): one figure per step.
    const steps: string[] = [`lab ${Date.now() - started} ms`];
    // The client opens hundreds of connections a second for minutes, and each one it closes keeps its port
    // in TIME_WAIT for 60 s: with Linux's default 28k ephemeral ports the client itself runs out
    // (EADDRNOTAVAIL) in the long faults. Its namespace gets every port above 1023 instead.
    await mustExec(createExec({ netns: lab.clients[0]!.ns }), 'sysctl', [
      '-q',
      '-w',
      'net.ipv4.ip_local_port_range=1024 65535',
    ]);
    dir = await mkdtemp(join(tmpdir(), 'kproxy-chaos-'));
    const nodeExec = createExec({ netns: lab.node.ns });
    // xtables-lock needs the backend that takes the lock; otherwise, what the node's iptables is.
    const backend = fault === 'xtables-lock' ? 'legacy' : await detectBackend(lab);
    const iptables = backend === 'legacy' ? 'iptables-legacy' : 'iptables-nft';
    let endpoints: ChaosEndpoint[] = lab.pods.map((p) => ({ ip: p.ip, phase: 'ready' }));
    const useApi = fault === 'api-outage';
    if (useApi) {
      api = await startApiServerChild(lab, lab.node.ns, { timeoutMs: 20_000 * slow });
      await api.setService(endpoints);
    } else {
      await writeFile(join(dir, 'web.yaml'), serviceManifest(endpoints));
    }
    const source = useApi ? ['--kubeconfig', api!.kubeconfigPath] : ['--manifests', dir];
    const args = [
      'run',
      '--proxy-mode',
      mode,
      ...source,
      '--hostname-override',
      'chaos-node',
      '--node-ip',
      lab.node.ip,
      '--iptables-backend',
      backend,
      '--iptables-sync-period',
      `${settings.syncPeriodMs}ms`,
      '--ipvs-sync-period',
      `${settings.syncPeriodMs}ms`,
      '--log-format',
      'json',
      '--healthz-bind-address',
      '',
      '--metrics-bind-address',
      '',
    ];
    const startKproxy = async (): Promise<void> => {
      const k = spawnKproxy(theLab, theLab.node.ns, args, { command: privateRunCommand() });
      kproxy = k;
      daemons.push(k);
      await k.waitForSync((s) => s.servicePorts >= 2, { timeoutMs: 60_000 * slow, from: 0 });
    };
    await startKproxy();
    steps.push(`kproxy synced +${Date.now() - started} ms`);
    // The service must answer before anything is measured.
    const probe = await runProbe(
      lab,
      lab.clients[0]!.ns,
      ['banner', CHAOS_VIP, String(CHAOS_TCP_PORT), '--count', '3'],
      30_000 * slow,
    );
    if (probe.names.length === 0)
      throw new BenchError(`The service never answered: ${probe.failures.join('; ')}`);
    steps.push(`probe +${Date.now() - started} ms`);
    const budget = times.warmupMs + times.faultMs + times.settleMs + 120_000;
    const traffic = await startTraffic(lab, lab.clients[0]!.ns, {
      vip: CHAOS_VIP,
      tcpPort: CHAOS_TCP_PORT,
      udpPort: CHAOS_UDP_PORT,
      timeoutMs: attemptTimeoutMs,
      maxMs: budget,
      startTimeoutMs: 20_000 * slow,
    });
    steps.push(`traffic +${Date.now() - started} ms`);
    log(`  ${mode} ${fault}: set up: ${steps.join(', ')}`);
    await sleep(times.warmupMs);
    const ctx: FaultContext = {
      lab,
      mode,
      dir,
      times,
      iptables,
      kproxy: () => kproxy!,
      restartKproxy: startKproxy,
      endpoints: () => endpoints,
      async setEndpoints(next) {
        endpoints = [...next];
        if (api !== undefined) await api.setService(endpoints);
        else await writeFile(join(dir, 'web.yaml'), serviceManifest(endpoints));
      },
      async apiServer(state) {
        if (api === undefined) throw new BenchError('This run has no API server');
        await api.setUp(state === 'up');
      },
      nodeExec: (argv) => nodeExec(argv[0]!, argv.slice(1)),
      note: (text) => notes.push(text),
      mark: (step) => {
        marks[step] = Date.now();
      },
    };
    const faultAt = Date.now();
    log(`  ${mode} ${fault}: fault at +${faultAt - started} ms`);
    await injectFault(fault, ctx);
    const faultEnd = Date.now();
    await sleep(times.settleMs);
    const report = await traffic.finish();
    const alive = kproxy !== undefined && kproxy.child.exitCode === null && kproxy.child.signalCode === null;
    if (!alive) notes.push('kproxy was not running at the end');
    const syncs = daemons.flatMap((d) => d.syncs);
    const longestSync = Math.max(0, ...syncs.map((s) => s.durationMs));
    notes.push(`kproxy: ${syncs.length} syncs, the longest ${Math.round(longestSync)} ms`);
    notes.push(...logProblems(daemons, faultAt));
    if (fault === 'flush-rules' || fault === 'wipe-table') notes.push(...syncsFrom(daemons, faultAt));
    const pod0 = report.tcp.backends['pod0']?.lastAt;
    for (const step of ['api server back', 'pod0 removed']) {
      const at = marks[step];
      if (at !== undefined && pod0 !== undefined) {
        const d = pod0 - at;
        notes.push(`pod0 last answered ${Math.abs(d)} ms ${d < 0 ? 'before' : 'after'} "${step}"`);
      }
    }
    const tcp: TrafficFigures = figures(report.tcp, faultAt);
    const udp: TrafficFigures | undefined =
      report.udp === undefined ? undefined : figures(report.udp, faultAt);
    return {
      mode,
      fault,
      quick: settings.quick,
      syncPeriodMs: settings.syncPeriodMs,
      backend,
      faultAt,
      faultMs: faultEnd - faultAt,
      times,
      tcp,
      udp,
      tcpOutages: report.tcp.outages.slice(0, KEPT_OUTAGES),
      udpOutages: (report.udp?.outages ?? []).slice(0, KEPT_OUTAGES),
      marks: Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, v - faultAt])),
      backends: Object.fromEntries(Object.entries(report.tcp.backends).map(([k, v]) => [k, v.count])),
      notes,
      error: undefined,
    };
  } catch (error) {
    const tail = kproxy?.output().split('\n').slice(-5).join(' | ') ?? '';
    return {
      mode,
      fault,
      quick: settings.quick,
      syncPeriodMs: settings.syncPeriodMs,
      backend: undefined,
      faultAt: undefined,
      faultMs: undefined,
      times,
      tcp: undefined,
      udp: undefined,
      tcpOutages: [],
      udpOutages: [],
      marks: {},
      backends: {},
      notes,
      error: `${error instanceof Error ? error.message : String(error)}${tail === '' ? '' : ` (kproxy: ${tail.slice(0, 800)})`}`,
    };
  } finally {
    await kproxy?.stop().catch(() => undefined);
    await api?.stop().catch(() => undefined);
    await lab?.destroy();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  }
}

/**
 * kproxy's warnings and errors (JSON log levels 40 to 60) from the fault on: how many, and the first few
 * distinct ones (what it says at every start, such as the IPv6 notice, is left out).
 */
function logProblems(daemons: readonly KproxyProcess[], since: number): string[] {
  const messages: string[] = [];
  for (const line of daemons.flatMap((d) => d.output().split('\n'))) {
    if (!/"level":(40|50|60)/.test(line)) continue;
    try {
      const entry = JSON.parse(line) as { time?: unknown; msg?: unknown; err?: { message?: unknown } };
      if (typeof entry.time === 'number' && entry.time < since) continue;
      if (typeof entry.msg === 'string' && entry.msg.startsWith('IPv6 Services will not be served')) continue;
      const detail = typeof entry.err?.message === 'string' ? `: ${entry.err.message}` : '';
      messages.push(`${String(entry.msg)}${detail}`.replace(/\s+/g, ' ').slice(0, 160));
    } catch {
      messages.push(line.slice(0, 160));
    }
  }
  if (messages.length === 0) return [];
  const distinct = [...new Set(messages)].slice(0, 3).map((m) => `"${m}"`);
  return [`kproxy logged ${messages.length} warnings/errors, e.g. ${distinct.join(', ')}`];
}

/**
 * When kproxy's first syncs from the fault on ended, relative to the fault, and what they wrote: after its
 * rules were tampered with, this shows which sync repaired them.
 */
function syncsFrom(daemons: readonly KproxyProcess[], since: number): string[] {
  const syncs: string[] = [];
  for (const line of daemons.flatMap((d) => d.output().split('\n'))) {
    if (!line.includes('Synced proxy rules')) continue;
    try {
      const e = JSON.parse(line) as {
        time?: unknown;
        kind?: unknown;
        durationMs?: unknown;
        written?: unknown;
      };
      if (typeof e.time !== 'number' || e.time < since) continue;
      const took = typeof e.durationMs === 'number' ? Math.round(e.durationMs) : '?';
      syncs.push(`+${e.time - since} ms (${String(e.kind)}, took ${took} ms, ${String(e.written)} written)`);
    } catch {
      /* not a JSON line */
    }
  }
  return syncs.length === 0
    ? []
    : [`kproxy's syncs from the fault on ended at ${syncs.slice(0, 4).join(', ')}`];
}

/** The iptables backend kproxy's `auto` picks in the node namespace (named, so the faults use the same). */
function detectBackend(lab: Lab): Promise<ResolvedIptablesBackend> {
  return resolveIptablesBackend(createExec({ netns: lab.node.ns }), 'auto');
}
