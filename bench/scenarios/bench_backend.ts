/**
 * The backend "pod" of every benchmark: a native HTTP server answering `200 pod0` (HAProxy in HTTP mode,
 * one thread), an iperf3 server for bulk throughput, and extra addresses on the pod so that one pod can
 * stand for the ten endpoints of the scale benchmark's measured service.
 *
 * @module
 */
import type { Lab, LabHost } from '../../src/lab/lab.ts';
import { BenchError } from '../tools/bench_error.ts';
import { type HaproxyProcess, haproxyHttpResponderConfig, startHaproxy } from '../tools/haproxy.ts';
import { waitForListening } from '../tools/listening.ts';

/** The backend's HTTP port. */
export const BACKEND_HTTP_PORT = 8080;
/** The backend's iperf3 port. */
export const BACKEND_BULK_PORT = 5201;

/** A running backend. */
export interface Backend {
  readonly pod: LabHost;
  /** The pod's extra addresses (endpoints of the scale benchmark's measured service), then one spare. */
  readonly extraAddresses: readonly string[];
  stop(): Promise<void>;
}

/**
 * The extra addresses of a pod: `.10` upward in its /24.
 *
 * @param pod the pod
 * @param count how many
 * @returns addresses
 * @example extraAddresses({ ip: '198.18.101.2', ... }, 2) // ['198.18.101.10', '198.18.101.11']
 */
export function extraAddresses(pod: LabHost, count: number): string[] {
  const prefix = pod.ip.split('.').slice(0, 3).join('.');
  return Array.from({ length: count }, (_, i) => `${prefix}.${10 + i}`);
}

/**
 * Starts the backend in a pod of the lab.
 *
 * @param lab the lab (built with `servers: false`: the identity servers would take the same ports)
 * @param pod the pod
 * @param extra how many extra addresses to add (e.g. 11: ten endpoints and a spare for a change)
 * @returns the backend
 * @throws {BenchError} when a server does not start
 */
export async function startBackend(lab: Lab, pod: LabHost, extra: number): Promise<Backend> {
  const addresses = extraAddresses(pod, extra);
  for (const address of addresses) {
    const r = await lab.exec(pod.ns, ['ip', 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    if (r.code !== 0) throw new BenchError(`Cannot add ${address} to ${pod.ns}: ${r.stderr.trim()}`);
  }
  let http: HaproxyProcess | undefined;
  const iperf = lab.spawn(pod.ns, ['iperf3', '-s', '-p', String(BACKEND_BULK_PORT)]);
  iperf.child.stdout?.resume();
  iperf.child.stderr?.resume();
  try {
    http = await startHaproxy(lab, pod.ns, haproxyHttpResponderConfig(BACKEND_HTTP_PORT, pod.name), [
      BACKEND_HTTP_PORT,
    ]);
    await waitForListening(lab, pod.ns, [BACKEND_BULK_PORT], { timeoutMs: 10_000, exited: iperf.exited });
  } catch (error) {
    await http?.stop();
    await iperf.kill();
    throw error;
  }
  return {
    pod,
    extraAddresses: addresses,
    async stop() {
      await http?.stop();
      await iperf.kill();
    },
  };
}
