/**
 * Section 1 of the benchmark, the data path: from the lab's client namespace, through the node namespace,
 * to the backend pod, for each target (a direct connection, HAProxy in TCP mode in the node, and kproxy's
 * modes through a service VIP): new connections/s and request latency with `Connection: close` (wrk),
 * requests/s and latency over kept-alive connections (wrk), bulk throughput (iperf3). kproxy is given the
 * measured service among generated others (`services` in all), so that a new connection walks the rules of
 * a small cluster rather than of one service.
 *
 * Every repetition visits every target (rotating the order), so slow drifts of a shared machine spread
 * over all targets instead of favouring one; kproxy runs only while its target is measured, and the node's
 * kernel state is reset after it.
 *
 * @module
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createExec, mustExec } from '../../src/kernel/exec.ts';
import type { KproxyProcess } from '../../src/lab/kproxy_daemon.ts';
import type { Lab } from '../../src/lab/lab.ts';
import type { DataPathResult, DataPathSettings, DataPathTarget, Place } from '../report/results.ts';
import { summarize } from '../report/stats.ts';
import { BenchError } from '../tools/bench_error.ts';
import { type HaproxyProcess, haproxyTcpConfig, startHaproxy } from '../tools/haproxy.ts';
import { iperf3ClientArgv, parseIperf3Json } from '../tools/iperf3.ts';
import { kproxyMode, startKproxy } from '../tools/kproxy_run.ts';
import { parseWrkOutput, wrkArgv } from '../tools/wrk.ts';
import { BACKEND_BULK_PORT, BACKEND_HTTP_PORT, type Backend } from './bench_backend.ts';
import { applyHaproxyPortals } from './haproxy_portals.ts';
import { resetNodeKernelState } from './node_reset.ts';
import { writeServiceSet } from './service_manifests.ts';

/** The data-path service's VIP (apart from the scale benchmark's 198.19.0-63.x). */
export const DATA_PATH_VIP = '198.19.200.10';
/** The data-path service's VIP over IPv6 (in the lab's IPv6 VIP range, 2001:2:0:f::/64). */
export const DATA_PATH_VIP6 = '2001:2:0:f::c8:10';
/** The static-DNAT reference's VIP over IPv6. */
export const STATIC_DNAT_VIP6 = '2001:2:0:f::c8:12';
/** HAProxy's ports on the node's address. */
const HAPROXY_HTTP_PORT = 18080;
const HAPROXY_BULK_PORT = 15201;
/** HAProxy behind kproxy's portal rules (haproxy_portals.ts): its VIP, and its ports on every address. */
export const HAPROXY_PORTALS_VIP = '198.19.200.11';

/**
 * The VIP of the static-DNAT reference: one nftables rule per port in the node sends it to the backend
 * pod, no kproxy running. What any DNAT data path costs (conntrack NAT rewrites every packet of the
 * connection), against which kproxy's kernel modes show what their own rules add.
 */
export const STATIC_DNAT_VIP = '198.19.200.12';
const HAPROXY_PORTALS_HTTP_PORT = 18081;
const HAPROXY_PORTALS_BULK_PORT = 15202;

/** Options of {@link runDataPath}. */
export interface DataPathOptions extends DataPathSettings {
  readonly targets: readonly DataPathTarget[];
  readonly place: Place;
  readonly iptablesBackend: 'legacy' | 'nft';
  /** The command prefix that starts kproxy (kproxy_build.ts). */
  readonly kproxy: readonly string[];
  /** A scratch directory for the manifests. */
  readonly workDir: string;
  /** Targets known in advance not to be measurable here, with the reason. */
  readonly unavailable?: ReadonlyMap<DataPathTarget, string> | undefined;
  readonly log: (line: string) => void;
  /**
   * The family the client, VIPs and backend speak (default IPv4). IPv6 uses the lab's 2001:2::/48
   * addresses and measures direct, the static-DNAT reference and kproxy's modes; HAProxy's targets stay
   * IPv4-only (the portal rules are IPv4 iptables rules).
   */
  readonly ipFamily?: 'IPv4' | 'IPv6' | undefined;
}

/** Where a target is reached, and how it is brought up and down. */
interface TargetRunner {
  readonly target: DataPathTarget;
  readonly http: { readonly host: string; readonly port: number };
  readonly bulk: { readonly host: string; readonly port: number };
  /** Brought up once for the whole section (HAProxy) or once per visit (kproxy). */
  readonly perVisit: boolean;
  up(): Promise<void>;
  down(): Promise<void>;
}

/** Raw samples of one target. */
interface Samples {
  connectionsPerSecond: number[];
  newConnectionLatencyP50Ms: number[];
  newConnectionLatencyP99Ms: number[];
  requestsPerSecond: number[];
  latencyP50Ms: number[];
  latencyP99Ms: number[];
  throughputGbps: number[];
  errors: number;
}

/**
 * The manifests of the data-path service: VIP port 80 → the backend's HTTP port, 5201 → its iperf3 port.
 *
 * @param podIp the backend pod's address
 * @returns a JSON `List` document
 */
export function dataPathManifest(podIp: string): string {
  const v6 = podIp.includes(':');
  const vip = v6 ? DATA_PATH_VIP6 : DATA_PATH_VIP;
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'bench' },
    spec: {
      clusterIP: vip,
      clusterIPs: [vip],
      ipFamilies: [v6 ? 'IPv6' : 'IPv4'],
      ports: [
        { name: 'http', protocol: 'TCP', port: 80, targetPort: BACKEND_HTTP_PORT },
        { name: 'bulk', protocol: 'TCP', port: BACKEND_BULK_PORT, targetPort: BACKEND_BULK_PORT },
      ],
    },
  };
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'web-1', namespace: 'bench', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: v6 ? 'IPv6' : 'IPv4',
    ports: [
      { name: 'http', protocol: 'TCP', port: BACKEND_HTTP_PORT },
      { name: 'bulk', protocol: 'TCP', port: BACKEND_BULK_PORT },
    ],
    endpoints: [{ addresses: [podIp], conditions: { ready: true } }],
  };
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [service, slice] }, null, 2)}\n`;
}

/**
 * The order in which repetition `rep` visits the targets: rotated by one each repetition.
 *
 * @param count number of targets
 * @param rep 0-based repetition
 * @returns target indexes
 * @example visitOrder(3, 1) // [1, 2, 0]
 */
export function visitOrder(count: number, rep: number): number[] {
  return Array.from({ length: count }, (_, i) => (i + rep) % count);
}

/**
 * Runs the data-path section.
 *
 * @param lab a lab with one client and the backend's pod
 * @param backend the running backend
 * @param options targets, repetitions, durations
 * @returns one result per target, in the order of `options.targets`
 */
export async function runDataPath(
  lab: Lab,
  backend: Backend,
  options: DataPathOptions,
): Promise<DataPathResult[]> {
  const client = lab.clients[0];
  if (client === undefined) throw new BenchError('The data-path benchmark needs a lab client');
  const manifests = join(options.workDir, 'data-path');
  await mkdir(manifests, { recursive: true });
  const v6 = options.ipFamily === 'IPv6';
  await writeFile(join(manifests, 'web.json'), dataPathManifest(v6 ? backend.pod.ip6 : backend.pod.ip));
  // The generated services (VIPs 198.19.0-63.x, unreachable endpoints) are named svc-*, so the measured
  // service (web) comes after them in every name-sorted ruleset.
  const others = (options.services ?? 1) - 1;
  if (others > 0) await writeServiceSet(manifests, { services: others, endpointsPerService: 10 });
  const failed = new Map<DataPathTarget, string>(options.unavailable ?? []);
  if (v6) {
    for (const t of ['haproxy', 'haproxy-portals'] as const)
      if (!failed.has(t)) failed.set(t, 'IPv4 only (the portal rules are IPv4 iptables rules)');
  }
  const runners = options.targets
    .filter((t) => !failed.has(t))
    .map((t) => targetRunner(lab, backend, t, manifests, options));
  const samples = new Map<DataPathTarget, Samples>();
  try {
    for (const runner of runners) {
      try {
        await runner.up();
        await checkReachable(lab, client.ns, runner);
        if (runner.perVisit) await runner.down();
      } catch (error) {
        await runner.down().catch(() => {});
        failed.set(runner.target, message(error));
        options.log(`  ${runner.target}: not measured: ${message(error)}`);
      }
    }
    const live = runners.filter((r) => !failed.has(r.target));
    for (let rep = 0; rep < options.repetitions; rep++) {
      for (const index of visitOrder(live.length, rep)) {
        const runner = live[index]!;
        if (failed.has(runner.target)) continue;
        try {
          if (runner.perVisit) await runner.up();
          const s = samples.get(runner.target) ?? emptySamples();
          samples.set(runner.target, s);
          await measure(lab, client.ns, runner, options, s);
          options.log(
            `  ${options.place} ${runner.target} #${rep + 1}: ${Math.round(s.connectionsPerSecond.at(-1)!)} conn/s, ` +
              `${Math.round(s.requestsPerSecond.at(-1)!)} req/s, p99 ${s.latencyP99Ms.at(-1)} ms, ` +
              `${s.throughputGbps.at(-1)} Gbit/s`,
          );
        } catch (error) {
          failed.set(runner.target, `repetition ${rep + 1}: ${message(error)}`);
          options.log(`  ${runner.target}: not measured: ${message(error)}`);
        } finally {
          if (runner.perVisit) await runner.down();
        }
      }
    }
  } finally {
    for (const runner of runners) if (!runner.perVisit) await runner.down();
  }
  return options.targets.map((target): DataPathResult => {
    const reason = failed.get(target);
    const s = samples.get(target);
    if (reason !== undefined || s === undefined) {
      return { target, place: options.place, status: 'not measured', reason: reason ?? 'no samples' };
    }
    return {
      target,
      place: options.place,
      status: 'measured',
      metrics: {
        connectionsPerSecond: summarize(s.connectionsPerSecond),
        newConnectionLatencyP50Ms: summarize(s.newConnectionLatencyP50Ms),
        newConnectionLatencyP99Ms: summarize(s.newConnectionLatencyP99Ms),
        requestsPerSecond: summarize(s.requestsPerSecond),
        latencyP50Ms: summarize(s.latencyP50Ms),
        latencyP99Ms: summarize(s.latencyP99Ms),
        throughputGbps: summarize(s.throughputGbps),
        errors: s.errors,
      },
    };
  });
}

function emptySamples(): Samples {
  return {
    connectionsPerSecond: [],
    newConnectionLatencyP50Ms: [],
    newConnectionLatencyP99Ms: [],
    requestsPerSecond: [],
    latencyP50Ms: [],
    latencyP99Ms: [],
    throughputGbps: [],
    errors: 0,
  };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function targetRunner(
  lab: Lab,
  backend: Backend,
  target: DataPathTarget,
  manifests: string,
  options: DataPathOptions,
): TargetRunner {
  const v6 = options.ipFamily === 'IPv6';
  const pod = v6 ? backend.pod.ip6 : backend.pod.ip;
  switch (target) {
    case 'direct':
      return {
        target,
        http: { host: pod, port: BACKEND_HTTP_PORT },
        bulk: { host: pod, port: BACKEND_BULK_PORT },
        perVisit: false,
        up: async () => {},
        down: async () => {},
      };
    case 'haproxy': {
      let haproxy: HaproxyProcess | undefined;
      const node = lab.node.ip;
      return {
        target,
        http: { host: node, port: HAPROXY_HTTP_PORT },
        bulk: { host: node, port: HAPROXY_BULK_PORT },
        perVisit: false,
        up: async () => {
          haproxy = await startRelayHaproxy(lab, pod, node, HAPROXY_HTTP_PORT, HAPROXY_BULK_PORT);
        },
        down: async () => {
          await haproxy?.stop();
          haproxy = undefined;
        },
      };
    }
    case 'haproxy-portals':
      return haproxyPortalsRunner(lab, pod, options);
    case 'static-dnat':
      return staticDnatRunner(lab, pod, v6);
    case 'userspace':
    case 'iptables':
    case 'ipvs':
    case 'nftables':
      return kproxyRunner(lab, target, manifests, options);
    default: {
      const never: never = target;
      throw new BenchError(`Unknown data-path target: ${String(never)}`);
    }
  }
}

/** HAProxy in TCP mode relaying `address:httpPort` and `address:bulkPort` to the backend pod's ports. */
function startRelayHaproxy(
  lab: Lab,
  pod: string,
  address: string,
  httpPort: number,
  bulkPort: number,
): Promise<HaproxyProcess> {
  const config = haproxyTcpConfig([
    { name: 'http', listen: { address, port: httpPort }, server: { address: pod, port: BACKEND_HTTP_PORT } },
    { name: 'bulk', listen: { address, port: bulkPort }, server: { address: pod, port: BACKEND_BULK_PORT } },
  ]);
  return startHaproxy(lab, lab.node.ns, config, [httpPort, bulkPort]);
}

/** The static-DNAT reference, programmed for each visit: `kpt-static-dnat`, one nat table, two rules. */
function staticDnatRunner(lab: Lab, pod: string, v6: boolean): TargetRunner {
  const table = v6 ? 'ip6 kpt-static-dnat' : 'ip kpt-static-dnat';
  const vip = v6 ? STATIC_DNAT_VIP6 : STATIC_DNAT_VIP;
  const match = v6 ? 'ip6 daddr' : 'ip daddr';
  const to = (port: number) => (v6 ? `[${pod}]:${port}` : `${pod}:${port}`);
  const script = [
    `add table ${table}`,
    `add chain ${table} prerouting { type nat hook prerouting priority dstnat ; }`,
    `add rule ${table} prerouting ${match} ${vip} tcp dport 80 dnat to ${to(BACKEND_HTTP_PORT)}`,
    `add rule ${table} prerouting ${match} ${vip} tcp dport ${BACKEND_BULK_PORT} dnat to ${to(BACKEND_BULK_PORT)}`,
    '',
  ].join('\n');
  return {
    target: 'static-dnat',
    http: { host: vip, port: 80 },
    bulk: { host: vip, port: BACKEND_BULK_PORT },
    perVisit: true,
    up: async () => {
      await mustExec(createExec({ netns: lab.node.ns }), 'nft', ['-f', '-'], { input: script });
    },
    down: async () => {
      await resetNodeKernelState(lab, lab.node.ns);
    },
  };
}

/** HAProxy started for each visit, reached through a VIP that kproxy's own portal rules redirect to it. */
function haproxyPortalsRunner(lab: Lab, pod: string, options: DataPathOptions): TargetRunner {
  let haproxy: HaproxyProcess | undefined;
  let removeRules: (() => Promise<void>) | undefined;
  const forward = (name: string, port: number, toPort: number, podPort: number) => ({
    name,
    vip: HAPROXY_PORTALS_VIP,
    port,
    toPort,
    endpoint: `${pod}:${podPort}`,
  });
  return {
    target: 'haproxy-portals',
    http: { host: HAPROXY_PORTALS_VIP, port: 80 },
    bulk: { host: HAPROXY_PORTALS_VIP, port: BACKEND_BULK_PORT },
    perVisit: true,
    up: async () => {
      haproxy = await startRelayHaproxy(
        lab,
        pod,
        '0.0.0.0',
        HAPROXY_PORTALS_HTTP_PORT,
        HAPROXY_PORTALS_BULK_PORT,
      );
      removeRules = await applyHaproxyPortals(lab, lab.node.ns, options.iptablesBackend, [
        forward('http', 80, HAPROXY_PORTALS_HTTP_PORT, BACKEND_HTTP_PORT),
        forward('bulk', BACKEND_BULK_PORT, HAPROXY_PORTALS_BULK_PORT, BACKEND_BULK_PORT),
      ]);
    },
    down: async () => {
      await removeRules?.().catch(() => {});
      removeRules = undefined;
      await haproxy?.stop();
      haproxy = undefined;
      await resetNodeKernelState(lab, lab.node.ns);
    },
  };
}

function kproxyRunner(
  lab: Lab,
  target: DataPathTarget,
  manifests: string,
  options: DataPathOptions,
): TargetRunner {
  let kproxy: KproxyProcess | undefined;
  // The data-path service's two ports, and one port of each generated service.
  const servicePorts = 2 + (options.services ?? 1) - 1;
  const vip = options.ipFamily === 'IPv6' ? DATA_PATH_VIP6 : DATA_PATH_VIP;
  return {
    target,
    http: { host: vip, port: 80 },
    bulk: { host: vip, port: BACKEND_BULK_PORT },
    perVisit: true,
    up: async () => {
      kproxy = startKproxy(lab, lab.node.ns, {
        command: options.kproxy,
        mode: kproxyMode(target),
        manifests,
        nodeIp: lab.node.ip,
        iptablesBackend: options.iptablesBackend,
      });
      await kproxy.waitForSync((s) => s.servicePorts >= servicePorts, { timeoutMs: 120_000, from: 0 });
    },
    down: async () => {
      await kproxy?.stop();
      kproxy = undefined;
      await resetNodeKernelState(lab, lab.node.ns);
    },
  };
}

/** One HTTP request through the target must reach the backend before any load is sent. */
async function checkReachable(lab: Lab, ns: string, runner: TargetRunner): Promise<void> {
  const url = httpUrl(runner.http);
  const r = await lab.exec(ns, ['curl', '-g', '-s', '-m', '5', url], { signal: AbortSignal.timeout(10_000) });
  if (r.code !== 0 || r.stdout.trim() === '') {
    throw new BenchError(
      `No answer from ${url} through ${runner.target}: curl exit ${r.code} ${r.stderr.trim()}`,
    );
  }
}

/** `http://host:port/`, an IPv6 host in brackets. */
function httpUrl(e: { readonly host: string; readonly port: number }): string {
  return e.host.includes(':') ? `http://[${e.host}]:${e.port}/` : `http://${e.host}:${e.port}/`;
}

async function measure(lab: Lab, ns: string, runner: TargetRunner, options: DataPathOptions, s: Samples) {
  const url = httpUrl(runner.http);
  const limit = AbortSignal.timeout((options.wrkSeconds + 20) * 1000);
  const wrk = async (newConnectionPerRequest: boolean) => {
    const argv = wrkArgv({
      url,
      durationSeconds: options.wrkSeconds,
      connections: options.connections,
      threads: 1,
      newConnectionPerRequest,
    });
    const r = await lab.exec(ns, argv, { signal: limit });
    if (r.code !== 0) throw new BenchError(`wrk failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
    return parseWrkOutput(r.stdout);
  };
  const close = await wrk(true);
  const keep = await wrk(false);
  const iperf = await lab.exec(
    ns,
    iperf3ClientArgv(runner.bulk.host, runner.bulk.port, options.iperfSeconds),
    {
      signal: AbortSignal.timeout((options.iperfSeconds + 20) * 1000),
    },
  );
  const bulk = parseIperf3Json(iperf.stdout);
  s.connectionsPerSecond.push(close.requestsPerSecond);
  s.newConnectionLatencyP50Ms.push(close.latencyMs.p50);
  s.newConnectionLatencyP99Ms.push(close.latencyMs.p99);
  s.requestsPerSecond.push(keep.requestsPerSecond);
  s.latencyP50Ms.push(keep.latencyMs.p50);
  s.latencyP99Ms.push(keep.latencyMs.p99);
  s.throughputGbps.push(Math.round(bulk.bitsPerSecond / 1e7) / 100);
  for (const e of [close.errors, keep.errors])
    s.errors += e.connect + e.read + e.write + e.timeout + e.status;
}
