/**
 * The lab every benchmark section runs in, on the host or in the guest: a node namespace, one client, one
 * pod running the backend (with the extra addresses the scale runs use as endpoints), and the connect
 * probe in the client. Torn down by `close`, and by the lab's exit safety net if the process dies.
 *
 * @module
 */
import { createLab, type Lab } from '../src/lab/lab.ts';
import { BACKEND_HTTP_PORT, type Backend, startBackend } from './bench_backend.ts';
import { type ConnectProbe, startConnectProbe } from './connect_probe.ts';

/** A ready benchmark lab. */
export interface BenchLab {
  readonly lab: Lab;
  readonly backend: Backend;
  readonly probe: ConnectProbe;
  close(): Promise<void>;
}

/** Extra pod addresses: ten endpoints of the measured service and a spare for the one-endpoint change. */
export const EXTRA_ADDRESSES = 11;

/**
 * Builds the lab, starts the backend and the probe.
 *
 * @param slowdown multiplies start timeouts (the guest is slow)
 * @returns the lab; on failure everything built so far is gone
 */
export async function openBenchLab(slowdown: number): Promise<BenchLab> {
  const lab = await createLab({ tag: 'bench', clients: 1, pods: 1, servers: false });
  try {
    // Wide local port range and TIME_WAIT reuse in the client: short load runs open many connections.
    for (const ns of [lab.clients[0]!.ns, lab.node.ns]) {
      await lab.exec(ns, [
        'sysctl',
        '-q',
        '-w',
        'net.ipv4.ip_local_port_range=1024 65000',
        'net.ipv4.tcp_tw_reuse=1',
      ]);
    }
    const backend = await startBackend(lab, lab.pods[0]!, EXTRA_ADDRESSES);
    const probe = await startConnectProbe(lab, lab.clients[0]!.ns, 30_000 * slowdown);
    // Warms the probe up (JIT, neighbour entries) so that the first measured series is not the slowest.
    const pod = backend.extraAddresses[0]!;
    await probe.measure(
      { host: pod, port: BACKEND_HTTP_PORT, count: 200, warmup: 0, timeoutMs: 3000 },
      60_000 * slowdown,
    );
    return {
      lab,
      backend,
      probe,
      async close() {
        await probe.stop().catch(() => {});
        await backend.stop().catch(() => {});
        await lab.destroy();
      },
    };
  } catch (error) {
    await lab.destroy();
    throw error;
  }
}
