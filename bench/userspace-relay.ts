/**
 * Benchmark of the userspace relay against a direct connection and HAProxy (tcp mode, one thread), in a
 * lab topology (client namespace → node namespace → pod namespace), against the same backend:
 *
 * - new connections/s: `wrk -H 'Connection: close'` (one request per connection);
 * - requests/s over kept-alive connections: `wrk`;
 * - bulk throughput: `iperf3` (client → server).
 *
 * The backend is HAProxy answering HTTP itself (`http-request return`) plus an iperf3 server, so that the
 * backend is never the bottleneck. kproxy is reached through its VIP (portal rules, as a pod would), once
 * per relay engine (`handles`, `net`: tcp_relay.ts), started for its visit and stopped after it; HAProxy
 * through a port on the node address, and once more behind kproxy's own portal rules (`haproxy/portals`: the
 * same plan and applier, REDIRECTing two more VIPs to HAProxy), which shows what the portal design costs a
 * relay as fast as HAProxy. Beside each rate it prints the proxy process's CPU time per
 * connection (or per request) from /proc, user and system. Every run is bounded (`--duration`, default
 * 5 s; `--rounds`, default 2, alternating targets; the best round counts); no namespace keeps TIME_WAIT
 * sockets, as in the main benchmark (bench_lab.ts). Needs root, haproxy, wrk and iperf3.
 *
 * This is the relay's own tuning bench; `npm run bench` is the project's benchmark of record.
 *
 * Usage: node --import tsx bench/userspace-relay.ts [--duration 5] [--rounds 2] [--connections 32]
 *          [--engines handles,net] [--no-nat]
 *
 * `--no-nat` adds, per engine, kproxy without portal rules, listening on the node's address (an external
 * IP of the service): reached like HAProxy, with no REDIRECT, it shows what the NAT costs.
 *
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLab, type Lab } from '../src/lab/lab.ts';
import { endpointAt, planOptions } from '../src/model/testing/fixtures.ts';
import type { TcpRelayEngineName } from '../src/modes/userspace/index.ts';
import { startLabProxier } from '../src/modes/userspace/testing/lab_proxier.ts';
import { applyHaproxyPortals } from './scenarios/haproxy_portals.ts';
import { clusterIpServicePort } from './scenarios/service_ports.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    engines: { type: 'string', default: 'handles,net' },
    'no-nat': { type: 'boolean', default: false },
  },
});
const duration = Math.min(30, Math.max(1, Number(values.duration)));
const rounds = Math.min(5, Math.max(1, Number(values.rounds)));
const connections = Math.min(256, Math.max(1, Number(values.connections)));
const engines = values.engines
  .split(',')
  .map((e) => e.trim())
  .filter((e): e is TcpRelayEngineName => e === 'handles' || e === 'net');

const HTTP_PORT = 8080;
const IPERF_PORT = 5201;
const VIP_HTTP = '198.19.0.10';
const VIP_BULK = '198.19.0.11';
/** HAProxy behind kproxy's portal rules: these VIPs are redirected to these ports of HAProxy's. */
const HAPROXY_VIP_HTTP = '198.19.0.20';
const HAPROXY_VIP_BULK = '198.19.0.21';
const HAPROXY_REDIRECTED_HTTP = 18081;
const HAPROXY_REDIRECTED_BULK = 15202;

interface Target {
  readonly name: string;
  readonly http: string;
  readonly bulk: { readonly host: string; readonly port: number };
  /** Brings the target up for a visit; returns the proxy's pid (none for direct) and how to stop it. */
  up(): Promise<{ pid: number | undefined; down(): Promise<void> }>;
}

interface Result {
  connPerSec: number;
  reqPerSec: number;
  gbitPerSec: number;
  /** CPU µs (user, system) of the proxy per new connection and per kept-alive request, best round. */
  connCpu: string;
  reqCpu: string;
}

/** utime and stime of a process, in clock ticks (100 per second). */
function cpuTicks(pid: number | undefined): [number, number] {
  if (pid === undefined) return [0, 0];
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return [Number(fields[11]), Number(fields[12])];
}

/** Runs a load and returns its rate, with the proxy's CPU µs per unit (user+system). */
async function measured(pid: number | undefined, load: () => Promise<{ rate: number; total: number }>) {
  const [u0, s0] = cpuTicks(pid);
  const { rate, total } = await load();
  const [u1, s1] = cpuTicks(pid);
  const perUnit = (ticks: number): string => ((ticks * 10_000) / Math.max(1, total)).toFixed(0);
  return { rate, cpu: pid === undefined ? '-' : `${perUnit(u1 - u0)}+${perUnit(s1 - s0)}` };
}

function haproxyBackendConfig(ip: string): string {
  return [
    'global',
    '  nbthread 1',
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout connect 5s',
    'frontend backend_http',
    `  bind ${ip}:${HTTP_PORT}`,
    '  http-request return status 200 content-type text/plain string "pod0\\n"',
    '',
  ].join('\n');
}

function haproxyProxyConfig(nodeIP: string, podIP: string): string {
  return [
    'global',
    '  nbthread 1',
    '  maxconn 4096',
    'defaults',
    '  mode tcp',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout connect 5s',
    'listen http_relay',
    `  bind ${nodeIP}:18080`,
    `  bind 0.0.0.0:${HAPROXY_REDIRECTED_HTTP}`,
    `  server pod0 ${podIP}:${HTTP_PORT}`,
    'listen bulk_relay',
    `  bind ${nodeIP}:15201`,
    `  bind 0.0.0.0:${HAPROXY_REDIRECTED_BULK}`,
    `  server pod0 ${podIP}:${IPERF_PORT}`,
    '',
  ].join('\n');
}

async function wrk(lab: Lab, url: string, close: boolean): Promise<{ rate: number; total: number }> {
  const args = ['wrk', '-t1', `-c${connections}`, `-d${duration}s`, '--timeout', '5s'];
  if (close) args.push('-H', 'Connection: close');
  args.push(url);
  const result = await lab.exec(lab.clients[0]!.ns, args, {
    signal: AbortSignal.timeout((duration + 20) * 1000),
  });
  const match = /Requests\/sec:\s+([\d.]+)/.exec(result.stdout);
  if (result.code !== 0 || match === null) throw new Error(`wrk failed: ${result.stdout}${result.stderr}`);
  const errors = /Socket errors: (.*)/.exec(result.stdout)?.[1];
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(result.stdout)?.[1];
  if (errors !== undefined || non2xx !== undefined) {
    process.stderr.write(
      `  (${url}${close ? ' close' : ''}: socket errors ${errors ?? 0}, non-2xx ${non2xx ?? 0})\n`,
    );
  }
  return { rate: Number(match[1]), total: Number(/(\d+) requests in/.exec(result.stdout)?.[1] ?? 0) };
}

async function iperf(lab: Lab, host: string, port: number): Promise<number> {
  const result = await lab.exec(
    lab.clients[0]!.ns,
    ['iperf3', '-c', host, '-p', String(port), '-t', String(duration), '-J'],
    { signal: AbortSignal.timeout((duration + 20) * 1000) },
  );
  if (result.code !== 0) throw new Error(`iperf3 failed: ${result.stdout.slice(0, 500)}${result.stderr}`);
  const json = JSON.parse(result.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return json.end.sum_received.bits_per_second / 1e9;
}

async function main(): Promise<void> {
  const lab = await createLab({ tag: 'bench', clients: 1, pods: 1, servers: false });
  try {
    for (const ns of lab.namespaces) {
      await lab.exec(ns, [
        'sysctl',
        '-q',
        '-w',
        'net.ipv4.ip_local_port_range=1024 65000',
        'net.ipv4.tcp_max_tw_buckets=0',
      ]);
    }
    const pod = lab.pods[0]!;
    const dir = tmpdir();
    const backendCfg = join(dir, `${lab.id}-backend.cfg`);
    const proxyCfg = join(dir, `${lab.id}-haproxy.cfg`);
    writeFileSync(backendCfg, haproxyBackendConfig(pod.ip));
    writeFileSync(proxyCfg, haproxyProxyConfig(lab.node.ip, pod.ip));
    lab.spawn(pod.ns, ['haproxy', '-db', '-f', backendCfg]);
    lab.spawn(pod.ns, ['iperf3', '-s', '-B', pod.ip, '-p', String(IPERF_PORT)]);
    const haproxy = lab.spawn(lab.node.ns, ['haproxy', '-db', '-f', proxyCfg]);
    await new Promise((resolve) => setTimeout(resolve, 500)); // let haproxy and iperf3 bind
    const services = [
      clusterIpServicePort({
        serviceName: 'http',
        clusterIPs: [VIP_HTTP],
        port: 80,
        endpoints: [endpointAt(`${pod.ip}:${HTTP_PORT}`)],
      }),
      clusterIpServicePort({
        serviceName: 'bulk',
        clusterIPs: [VIP_BULK],
        port: IPERF_PORT,
        endpoints: [endpointAt(`${pod.ip}:${IPERF_PORT}`)],
      }),
    ];
    // Without portal rules (--userspace-portals off) a VIP that is a local address is served by listening on
    // it: with the node's own address as an external IP, kproxy is reached like HAProxy, with no NAT.
    const direct = [
      clusterIpServicePort({
        serviceName: 'http-local',
        clusterIPs: [VIP_HTTP],
        externalIPs: [lab.node.ip],
        port: 28080,
        endpoints: [endpointAt(`${pod.ip}:${HTTP_PORT}`)],
      }),
      clusterIpServicePort({
        serviceName: 'bulk-local',
        clusterIPs: [VIP_BULK],
        externalIPs: [lab.node.ip],
        port: 25201,
        endpoints: [endpointAt(`${pod.ip}:${IPERF_PORT}`)],
      }),
    ];
    const kproxy = (engine: TcpRelayEngineName, nat: boolean): Target => ({
      name: `kproxy/${engine}${nat ? '' : '/no-nat'}`,
      http: nat ? `http://${VIP_HTTP}:80/` : `http://${lab.node.ip}:28080/`,
      bulk: nat ? { host: VIP_BULK, port: IPERF_PORT } : { host: lab.node.ip, port: 25201 },
      async up() {
        const relay = startLabProxier(
          lab,
          planOptions({
            nodeName: 'node-a',
            nodeIPs: [lab.node.ip],
            userspaceRelayEngine: engine,
            userspacePortals: nat ? 'on' : 'off',
          }),
        );
        await relay.sync(nat ? services : direct);
        return {
          pid: relay.pid,
          async down() {
            const stats = await relay.stats();
            process.stdout.write(
              `  (${stats.relayEngine}: ${stats.tcp.accepted} accepted, ${stats.tcp.failed} failed, ${stats.tcp.failedAttempts} failed attempts)\n`,
            );
            await relay.stop();
          },
        };
      },
    });
    const targets: Target[] = [
      {
        name: 'direct',
        http: `http://${pod.ip}:${HTTP_PORT}/`,
        bulk: { host: pod.ip, port: IPERF_PORT },
        up: async () => ({ pid: undefined, down: async () => {} }),
      },
      ...engines.map((engine) => kproxy(engine, true)),
      ...(values['no-nat'] ? engines.map((engine) => kproxy(engine, false)) : []),
      {
        name: 'haproxy',
        http: `http://${lab.node.ip}:18080/`,
        bulk: { host: lab.node.ip, port: 15201 },
        up: async () => ({ pid: haproxy.child.pid, down: async () => {} }),
      },
      {
        // The reference HAProxy is reached directly, so it pays no NAT. Here it sits behind kproxy's own
        // portal rules (the same plan, rendered and applied by the same code, with HAProxy's ports as the
        // proxy ports): what the portal design costs any relay, however fast.
        name: 'haproxy/portals',
        http: `http://${HAPROXY_VIP_HTTP}:80/`,
        bulk: { host: HAPROXY_VIP_BULK, port: IPERF_PORT },
        async up() {
          const down = await applyHaproxyPortals(lab, lab.node.ns, 'auto', [
            {
              name: 'http',
              vip: HAPROXY_VIP_HTTP,
              port: 80,
              toPort: HAPROXY_REDIRECTED_HTTP,
              endpoint: `${pod.ip}:${HTTP_PORT}`,
            },
            {
              name: 'bulk',
              vip: HAPROXY_VIP_BULK,
              port: IPERF_PORT,
              toPort: HAPROXY_REDIRECTED_BULK,
              endpoint: `${pod.ip}:${IPERF_PORT}`,
            },
          ]);
          return { pid: haproxy.child.pid, down };
        },
      },
    ];
    const best = new Map<string, Result>(
      targets.map((t) => [t.name, { connPerSec: 0, reqPerSec: 0, gbitPerSec: 0, connCpu: '-', reqCpu: '-' }]),
    );
    for (let round = 1; round <= rounds; round++) {
      for (const target of targets) {
        const r = best.get(target.name)!;
        const visit = await target.up();
        try {
          const conn = await measured(visit.pid, () => wrk(lab, target.http, true));
          const req = await measured(visit.pid, () => wrk(lab, target.http, false));
          const bulk = await iperf(lab, target.bulk.host, target.bulk.port);
          process.stdout.write(
            `round ${round} ${target.name.padEnd(22)} conn/s ${conn.rate.toFixed(0).padStart(7)} (${conn.cpu} µs)  req/s ${req.rate.toFixed(0).padStart(7)} (${req.cpu} µs)  Gbit/s ${bulk.toFixed(2)}\n`,
          );
          if (conn.rate > r.connPerSec) {
            r.connPerSec = conn.rate;
            r.connCpu = conn.cpu;
          }
          if (req.rate > r.reqPerSec) {
            r.reqPerSec = req.rate;
            r.reqCpu = req.cpu;
          }
          r.gbitPerSec = Math.max(r.gbitPerSec, bulk);
        } finally {
          await visit.down();
        }
      }
    }
    const h = best.get('haproxy')!;
    const hr = best.get('haproxy/portals')!;
    const d = best.get('direct')!;
    const ratio = (a: number, b: number): string => (b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`);
    process.stdout.write(
      [
        '',
        `best of ${rounds} round(s), ${duration} s each, ${connections} connections, wrk -t1; CPU of the proxy process in µs user+system per connection / request:`,
        `                         conn/s     (cpu)      req/s   (cpu)   Gbit/s`,
        ...[...best].map(
          ([name, r]) =>
            `${name.padEnd(22)} ${r.connPerSec.toFixed(0).padStart(9)} ${`(${r.connCpu})`.padStart(9)} ${r.reqPerSec.toFixed(0).padStart(10)} ${`(${r.reqCpu})`.padStart(7)} ${r.gbitPerSec.toFixed(2).padStart(8)}`,
        ),
        '',
        ...[...best.keys()]
          .filter((name) => name.startsWith('kproxy/'))
          .map((name) => {
            const k = best.get(name)!;
            const engine = name.slice('kproxy/'.length);
            return `kproxy/${engine} / haproxy: conn ${ratio(k.connPerSec, h.connPerSec)}, req ${ratio(k.reqPerSec, h.reqPerSec)}, bulk ${ratio(k.gbitPerSec, h.gbitPerSec)}; / haproxy/portals: conn ${ratio(k.connPerSec, hr.connPerSec)}, req ${ratio(k.reqPerSec, hr.reqPerSec)}, bulk ${ratio(k.gbitPerSec, hr.gbitPerSec)}; / direct: conn ${ratio(k.connPerSec, d.connPerSec)}, req ${ratio(k.reqPerSec, d.reqPerSec)}, bulk ${ratio(k.gbitPerSec, d.gbitPerSec)}`;
          }),
        `haproxy/portals / haproxy: conn ${ratio(hr.connPerSec, h.connPerSec)}, req ${ratio(hr.reqPerSec, h.reqPerSec)}, bulk ${ratio(hr.gbitPerSec, h.gbitPerSec)}`,
        '',
      ].join('\n'),
    );
  } finally {
    await lab.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error instanceof Error ? error.stack : error)}\n`);
  process.exit(1);
});
