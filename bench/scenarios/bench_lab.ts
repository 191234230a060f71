/**
 * The lab every benchmark section runs in, on the host or in the guest: a node namespace, one client, one
 * pod running the backend (with the extra addresses the scale runs use as endpoints), and the connect
 * probe in the client. Torn down by `close`, and by the lab's exit safety net if the process dies.
 *
 * @module
 */
import { createLab, type Lab } from '../../src/lab/lab.ts';
import { type ConnectProbe, startConnectProbe } from '../tools/connect_probe.ts';
import { BACKEND_HTTP_PORT, type Backend, startBackend } from './bench_backend.ts';
import { resetNodeKernelState } from './node_reset.ts';

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
    // One client address opening 10k+ connections/s cycles through its ports within seconds: a server side
    // that kept TIME_WAIT sockets (the pod, or a proxy in the node) would then see SYNs for 4-tuples still in
    // TIME_WAIT, and the benchmark would measure those collisions (retransmitted SYNs) instead of the proxy.
    // No TIME_WAIT anywhere, and the widest port range.
    for (const ns of lab.namespaces) {
      const r = await lab.exec(ns, [
        'sysctl',
        '-q',
        '-w',
        'net.ipv4.ip_local_port_range=1024 65000',
        'net.ipv4.tcp_max_tw_buckets=0',
      ]);
      if (r.code !== 0) throw new Error(`Cannot tune ${ns}: ${r.stderr.trim()}`);
    }
    // Empty nat/filter/mangle tables from the start: connection tracking is active in the node for every
    // target (as on any Kubernetes node), not only after the first kproxy run loaded it.
    await resetNodeKernelState(lab, lab.node.ns);
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
