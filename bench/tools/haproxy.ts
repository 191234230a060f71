/**
 * HAProxy in the benchmark, in two roles: the userspace peer that kproxy's relay is compared with (TCP
 * mode, one thread, as issue 3 asks), and the backend "pod" server (HTTP mode, answering every request
 * itself), a fast native server so that the proxy in front of it, not the backend, is what is measured.
 *
 * @module
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab, LabProcess } from '../../src/lab/lab.ts';
import { BenchError } from './bench_error.ts';
import { waitForListening } from './listening.ts';

/** One TCP forwarding: what the peer listens on and where it sends the connections. */
export interface TcpForward {
  readonly name: string;
  readonly listen: { readonly address: string; readonly port: number };
  readonly server: { readonly address: string; readonly port: number };
}

const ADDRESS = /^([0-9.]+|[0-9a-f:]+)$/;
const NAME = /^[a-z][a-z0-9-]{0,30}$/;

function checkEndpoint(e: { address: string; port: number }): string {
  if (!ADDRESS.test(e.address) || !Number.isInteger(e.port) || e.port < 1 || e.port > 65535) {
    throw new RangeError(`Bad HAProxy address: ${e.address}:${e.port}`);
  }
  // HAProxy takes an IPv6 address before the port without brackets (`ipv6@` makes the family explicit).
  return e.address.includes(':') ? `ipv6@${e.address}:${e.port}` : `${e.address}:${e.port}`;
}

const GLOBAL = [
  'global',
  '  nbthread 1',
  '  maxconn 5000',
  'defaults',
  '  timeout connect 5s',
  '  timeout client 60s',
  '  timeout server 60s',
];

/**
 * The configuration of the userspace peer: TCP mode, one thread, one frontend/backend pair per forward.
 *
 * @param forwards what to forward
 * @returns haproxy.cfg text
 * @example haproxyTcpConfig([{ name: 'http', listen: { address: '198.18.0.1', port: 18080 }, server: { address: '198.18.101.2', port: 8080 } }])
 */
export function haproxyTcpConfig(forwards: readonly TcpForward[]): string {
  const lines = [...GLOBAL, '  mode tcp'];
  for (const f of forwards) {
    if (!NAME.test(f.name)) throw new RangeError(`Bad HAProxy section name: ${JSON.stringify(f.name)}`);
    lines.push(
      `frontend fe-${f.name}`,
      `  bind ${checkEndpoint(f.listen)}`,
      `  default_backend be-${f.name}`,
      `backend be-${f.name}`,
      `  server s0 ${checkEndpoint(f.server)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The configuration of the backend server: HTTP mode, answers `200 <body>` to every request itself,
 * keep-alive unless the client asks for `Connection: close`.
 *
 * @param port the port to listen on (all addresses)
 * @param body the response body, [a-z0-9] (the pod's name)
 * @returns haproxy.cfg text
 * @example haproxyHttpResponderConfig(8080, 'pod0')
 */
export function haproxyHttpResponderConfig(port: number, body: string): string {
  if (!/^[a-z0-9]{1,20}$/.test(body)) throw new RangeError(`Bad response body: ${JSON.stringify(body)}`);
  const lines = [
    ...GLOBAL,
    '  mode http',
    '  timeout http-keep-alive 60s',
    'frontend web',
    `  bind ${checkEndpoint({ address: '0.0.0.0', port })}`,
    `  bind ${checkEndpoint({ address: '::', port })} v6only`,
    `  http-request return status 200 content-type text/plain string ${body}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** A running HAProxy. */
export interface HaproxyProcess {
  readonly process: LabProcess;
  stop(): Promise<void>;
}

/**
 * Starts HAProxy in the foreground inside a lab namespace and waits until it listens on every port.
 *
 * @param lab the lab
 * @param ns one of its namespaces
 * @param config haproxy.cfg text
 * @param ports the TCP ports it must listen on before this resolves
 * @returns the process (killed by `stop`, or by the lab's destroy at the latest)
 * @throws {BenchError} when it exits or does not listen within 10 s
 */
export async function startHaproxy(
  lab: Lab,
  ns: string,
  config: string,
  ports: readonly number[],
): Promise<HaproxyProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'kpt-bench-haproxy-'));
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, config);
  const proc = lab.spawn(ns, ['haproxy', '-db', '-f', file]);
  let stderr = '';
  proc.child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-2000);
  });
  proc.child.stdout?.resume();
  const stop = async () => {
    await proc.kill();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForListening(lab, ns, ports, { timeoutMs: 10_000, exited: proc.exited });
  } catch (error) {
    await stop();
    throw new BenchError(`HAProxy did not start in ${ns}: ${stderr.trim() || String(error)}`, {
      cause: error,
    });
  }
  return { process: proc, stop };
}
