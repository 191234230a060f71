/**
 * Benchmark of the userspace relay against a direct connection and HAProxy (tcp mode, one thread), in a
 * lab topology (client namespace → node namespace → pod namespace), against the same backend:
 *
 * - new connections/s: `wrk -H 'Connection: close'` (one request per connection);
 * - requests/s over kept-alive connections: `wrk`;
 * - bulk throughput: `iperf3` (client → server).
 *
 * The backend is HAProxy answering HTTP itself (`http-request return`) plus an iperf3 server, so that the
 * backend is never the bottleneck. kproxy is reached through its VIP (portal rules, as a pod would);
 * HAProxy through a port on the node address. Every run is bounded (`--duration`, default 5 s; `--rounds`,
 * default 2, alternating targets; the best round counts). Needs root, haproxy, wrk and iperf3.
 *
 * Usage: node --import tsx bench/userspace-relay.ts [--duration 5] [--rounds 2] [--connections 32]
 *
 * @module
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLab, type Lab } from '../src/lab/lab.ts';
import { planOptions, servicePort } from '../src/modes/userspace/_fixtures.ts';
import { startLabProxier } from '../src/modes/userspace/_lab_proxier.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
  },
});
const duration = Math.min(30, Math.max(1, Number(values.duration)));
const rounds = Math.min(5, Math.max(1, Number(values.rounds)));
const connections = Math.min(256, Math.max(1, Number(values.connections)));

const HTTP_PORT = 8080;
const IPERF_PORT = 5201;
const VIP_HTTP = '198.19.0.10';
const VIP_BULK = '198.19.0.11';

interface Target {
  readonly name: string;
  readonly http: string;
  readonly bulk: { readonly host: string; readonly port: number };
}

interface Result {
  connPerSec: number;
  reqPerSec: number;
  gbitPerSec: number;
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
    `  server pod0 ${podIP}:${HTTP_PORT}`,
    'listen bulk_relay',
    `  bind ${nodeIP}:15201`,
    `  server pod0 ${podIP}:${IPERF_PORT}`,
    '',
  ].join('\n');
}

async function wrk(lab: Lab, url: string, close: boolean): Promise<number> {
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
  return Number(match[1]);
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
    const pod = lab.pods[0]!;
    const dir = tmpdir();
    const backendCfg = join(dir, `${lab.id}-backend.cfg`);
    const proxyCfg = join(dir, `${lab.id}-haproxy.cfg`);
    writeFileSync(backendCfg, haproxyBackendConfig(pod.ip));
    writeFileSync(proxyCfg, haproxyProxyConfig(lab.node.ip, pod.ip));
    lab.spawn(pod.ns, ['haproxy', '-db', '-f', backendCfg]);
    lab.spawn(pod.ns, ['iperf3', '-s', '-B', pod.ip, '-p', String(IPERF_PORT)]);
    lab.spawn(lab.node.ns, ['haproxy', '-db', '-f', proxyCfg]);
    const proxier = startLabProxier(lab, planOptions({ nodeIPs: [lab.node.ip] }));
    await proxier.sync([
      servicePort({
        serviceName: 'http',
        clusterIPs: [VIP_HTTP],
        port: 80,
        endpoints: [`${pod.ip}:${HTTP_PORT}`],
      }),
      servicePort({
        serviceName: 'bulk',
        clusterIPs: [VIP_BULK],
        port: IPERF_PORT,
        endpoints: [`${pod.ip}:${IPERF_PORT}`],
      }),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 500)); // let haproxy and iperf3 bind

    const targets: Target[] = [
      { name: 'direct', http: `http://${pod.ip}:${HTTP_PORT}/`, bulk: { host: pod.ip, port: IPERF_PORT } },
      { name: 'kproxy', http: `http://${VIP_HTTP}:80/`, bulk: { host: VIP_BULK, port: IPERF_PORT } },
      { name: 'haproxy', http: `http://${lab.node.ip}:18080/`, bulk: { host: lab.node.ip, port: 15201 } },
    ];
    const best = new Map<string, Result>(
      targets.map((t) => [t.name, { connPerSec: 0, reqPerSec: 0, gbitPerSec: 0 }]),
    );
    for (let round = 1; round <= rounds; round++) {
      for (const target of targets) {
        const r = best.get(target.name)!;
        const conn = await wrk(lab, target.http, true);
        const req = await wrk(lab, target.http, false);
        const bulk = await iperf(lab, target.bulk.host, target.bulk.port);
        process.stdout.write(
          `round ${round} ${target.name.padEnd(8)} conn/s ${conn.toFixed(0).padStart(7)}  req/s ${req.toFixed(0).padStart(7)}  Gbit/s ${bulk.toFixed(2)}\n`,
        );
        r.connPerSec = Math.max(r.connPerSec, conn);
        r.reqPerSec = Math.max(r.reqPerSec, req);
        r.gbitPerSec = Math.max(r.gbitPerSec, bulk);
      }
    }
    const stats = await proxier.stats();
    await proxier.stop();
    const k = best.get('kproxy')!;
    const h = best.get('haproxy')!;
    const d = best.get('direct')!;
    const ratio = (a: number, b: number): string => (b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`);
    process.stdout.write(
      [
        '',
        `best of ${rounds} round(s), ${duration} s each, ${connections} connections, wrk -t1:`,
        `            conn/s      req/s   Gbit/s`,
        ...[...best].map(
          ([name, r]) =>
            `${name.padEnd(8)} ${r.connPerSec.toFixed(0).padStart(9)} ${r.reqPerSec.toFixed(0).padStart(10)} ${r.gbitPerSec.toFixed(2).padStart(8)}`,
        ),
        '',
        `kproxy / haproxy: conn ${ratio(k.connPerSec, h.connPerSec)}, req ${ratio(k.reqPerSec, h.reqPerSec)}, bulk ${ratio(k.gbitPerSec, h.gbitPerSec)}`,
        `kproxy / direct:  conn ${ratio(k.connPerSec, d.connPerSec)}, req ${ratio(k.reqPerSec, d.reqPerSec)}, bulk ${ratio(k.gbitPerSec, d.gbitPerSec)}`,
        `kproxy relay: ${stats.tcp.accepted} accepted, ${stats.tcp.failed} failed, ${stats.tcp.failedAttempts} failed attempts`,
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
